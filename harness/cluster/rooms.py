"""Players walking between rooms through a database outage, and their rooms as the database keeps them.

One walker per game server goes north and south between two rooms, one move every
``MOVE_INTERVAL_S``. A move writes the player's room, so while the database is down the server
must refuse it with ``database_unavailable`` and a ``retry_after`` (and write nothing); the walker
tries the same direction again next time. A walker whose socket the server closed opens it again
with the same session id (a new socket is refused with close 1013 while the database is down).

When the chat workload ends the walkers stop, and the players' rooms are read straight from the
database (``db_rooms``): each must be the room the server last confirmed to that player, by a
move's reply or the room state on connect (:func:`harness.cluster.checks.rooms`). A row that
differs was half-written: a move refused to the player but stored, or confirmed but lost.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import structlog

from harness.cluster.accounts import Account, register
from harness.cluster.context import Server, WorkloadContext
from harness.cluster.ops import W
from harness.cluster.session import ProbeSession

__all__ = ["MOVE_INTERVAL_S", "walkers"]

log = structlog.get_logger(__name__)

MOVE_INTERVAL_S = 0.4
REOPEN_WAIT_S = 0.5
"""Before opening a closed socket again (the server's retry_after when it gave one)."""
DB_READ_TIMEOUT_S = 15.0
"""The database was restarted before the workload ended; its first reads may still wait."""
BACK = {"north": "south", "south": "north"}


async def _walk(ctx: WorkloadContext, account: Account, server: Server) -> None:
    session_id = uuid.uuid4().hex
    session: ProbeSession | None = None
    direction, n = "north", 0
    try:
        while ctx.remaining() > 0:
            if session is None or not session.open_now:
                if session is not None:
                    await session.close()
                session = ProbeSession(ctx.history, account.name, server.url, account.token, session_id,
                                       {"workload": "walkers", "round": n, "kind": "walk", "side": "walker",
                                        "server": server.name})
                if await session.open() != "live":
                    await asyncio.sleep(float((session.refusal or {}).get("retry_after") or REOPEN_WAIT_S))
                    continue
            tags = {"workload": "walkers", "n": n, "direction": direction, "server": server.name}
            n += 1
            invocation = ctx.history.invoke(account.name, W.MOVE, tags)
            reply = await session.command(f"go {direction}")
            if reply.ok:
                ctx.history.ok(invocation, {**tags, "room": reply.data.get("room_id")})
                direction = BACK[direction]
            elif reply.kind == "none":
                ctx.history.info(invocation, str(reply.data.get("error", "no reply")))
            else:
                ctx.history.fail(invocation, reply.error_type or "refused",
                                 {**tags, "error_type": reply.error_type, "retry_after": reply.data.get("retry_after")})
            await asyncio.sleep(MOVE_INTERVAL_S)
    finally:
        if session is not None:
            await session.close()


def _rooms_sql(names: list[str]) -> str:
    # The names are the workload's own (alphanumeric), never input from elsewhere.
    listed = ", ".join(f"'{name}'" for name in names if name.isalnum())
    return f"SELECT json_object_agg(username, room_id) FROM players WHERE username IN ({listed})"  # noqa: S608


async def _read_rooms(ctx: WorkloadContext, names: list[str]) -> None:
    """The walkers' rooms as the database holds them, recorded as ``db_rooms``."""
    invocation = ctx.history.invoke("admin", W.DB_ROOMS, {"workload": "walkers", "players": names})
    if ctx.query is None:
        ctx.history.fail(invocation, "no shared database in this topology")
        return
    query = ctx.query
    deadline = ctx.history.now() + DB_READ_TIMEOUT_S
    while True:
        try:
            raw = await asyncio.to_thread(query, _rooms_sql(names))
            break
        except Exception as exc:  # the database may still be starting: retry until the deadline
            if ctx.history.now() >= deadline:
                ctx.history.fail(invocation, f"{type(exc).__name__}: {exc}")
                return
            await asyncio.sleep(0.5)
    rooms = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
    ctx.history.ok(invocation, {"workload": "walkers", "players": names, "rooms": rooms})


async def walkers(ctx: WorkloadContext) -> None:
    """One walker per game server until the chat workload ends, then the database's view of them."""
    accounts = [await register(server.url, f"walker{server.index}", ctx.take_invite(server.index))
                for server in ctx.servers]
    ctx.history.observe("admin", W.PLAN, {"workload": "walkers", "walkers": [a.name for a in accounts],
                                          "interval_s": MOVE_INTERVAL_S})
    await asyncio.gather(*(_walk(ctx, account, server) for account, server in zip(accounts, ctx.servers,
                                                                                    strict=True)))
    await _read_rooms(ctx, [a.name for a in accounts])
    log.info("walkers_done", walkers=len(accounts))
