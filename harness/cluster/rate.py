"""A command flood that switches servers mid-flood: the rate budget must be the player's, not the server's.

One player floods ``look`` on server A, several times faster than its budget allows. Mid-flood
it logs in again on server B (``POST /auth/login`` there, a new WebSocket with a new
``session_id``) and floods on B too, while A's socket keeps flooding until A evicts it; later it
hops to a third server the same way. Every command is a ``flood`` operation: ok when it ran,
fail when refused (``rate_limited``). The checker (:func:`harness.cluster.checks.rate_budget`)
counts the commands that ran inside any window of the configured length, across all servers:
one budget is the guarantee, and a fresh budget per server (two in the window after a hop) is
what it exists to catch.

The budget and window are the scenario's (RATE_LIMIT_MAX_COMMANDS, RATE_LIMIT_WINDOW_SECONDS
in its game servers' environment), read from the run, never assumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid

import structlog

from harness.cluster.accounts import Account, login, register
from harness.cluster.context import Server, WorkloadContext
from harness.cluster.ops import W
from harness.cluster.session import ProbeSession

__all__ = ["FLOOD_INTERVAL_S", "rate_switch"]

log = structlog.get_logger(__name__)

FLOOD_INTERVAL_S = 0.02
"""Fifty commands a second: several budgets' worth, without a busy loop on a shared machine."""
WINDOWS_PER_SERVER = 1.5
"""How long the player floods one server (in windows) before it hops to the next."""
HOPS = 2


async def _flood(ctx: WorkloadContext, session: ProbeSession, server: Server, counter: itertools.count[int],
                 stop: asyncio.Event) -> None:
    """Flood ``look`` on ``session`` until its server closes it or ``stop``."""
    while not stop.is_set() and session.open_now:
        tags = {"workload": "rate_switch", "n": next(counter), "server": server.name}
        invocation = ctx.history.invoke(session.process, W.FLOOD, tags)
        reply = await session.command("look")
        if reply.kind == "result":
            ctx.history.ok(invocation, tags)
        elif reply.kind == "error":
            ctx.history.fail(invocation, reply.error_type or "refused",
                             {**tags, "error_type": reply.error_type, "retry_after": reply.data.get("retry_after")})
        else:
            ctx.history.info(invocation, str(reply.data.get("error", "no reply")))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), FLOOD_INTERVAL_S)


async def _open(ctx: WorkloadContext, account: Account, server: Server, hop: int, token: str) -> ProbeSession:
    session = ProbeSession(ctx.history, account.name, server.url, token, uuid.uuid4().hex,
                           {"workload": "rate_switch", "round": hop, "kind": "flood", "side": f"hop{hop}",
                            "server": server.name})
    await session.open()
    return session


async def rate_switch(ctx: WorkloadContext, hops: int = HOPS) -> None:
    """Flood one server, hop to the next ``hops`` times mid-flood, and stop one dwell after the last."""
    budget = int(ctx.setting("RATE_LIMIT_MAX_COMMANDS"))
    window_s = float(ctx.setting("RATE_LIMIT_WINDOW_SECONDS"))
    servers = [ctx.servers[i % len(ctx.servers)] for i in range(hops + 1)]
    if len({s.name for s in servers}) < 2:
        raise ValueError("a server switch needs two game servers")
    account = await register(servers[0].url, "flooder", ctx.take_invite(servers[0].index))
    dwell_s = WINDOWS_PER_SERVER * window_s
    ctx.history.observe(account.name, W.PLAN, {"workload": "rate_switch", "budget": budget, "window_s": window_s,
                                               "interval_s": FLOOD_INTERVAL_S, "hops": hops,
                                               "servers": [s.name for s in servers]})
    counter = itertools.count()
    stop = asyncio.Event()
    sessions: list[ProbeSession] = []
    floods: list[asyncio.Task[None]] = []
    try:
        for hop, server in enumerate(servers):
            # A re-login, as a player switching servers does: a token from the new server.
            token = account.token if hop == 0 else await login(server.url, account)
            session = await _open(ctx, account, server, hop, token)
            sessions.append(session)
            floods.append(asyncio.create_task(_flood(ctx, session, server, counter, stop)))
            await asyncio.sleep(dwell_s)
    finally:
        stop.set()
        await asyncio.gather(*floods, return_exceptions=True)
        await asyncio.gather(*(s.close() for s in sessions))
    log.info("rate_flood_done", hops=hops, budget=budget, window_s=window_s)
