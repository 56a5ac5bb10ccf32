"""WebSocket transport: commands and pings in, event envelopes and error frames out.

Costs are bounded before they are paid. A command's rate check runs before the player is read
from the database. A command refused for its rate is answered (``rate_limited`` with
``retry_after``), and then the connection is not read again until the window has room (at most
one window): ircd's "fake lag". Frames sent meanwhile wait in the socket's buffers and run later,
so a flood costs one refusal per window instead of one parse, audit and answer per frame, and
TCP flow control slows the flooder down. Frames that are not commands have a per-connection budget: pings beyond
their bucket (WS_PING_BURST, refilled at WS_PINGS_PER_SECOND) and invalid frames (not JSON,
not an object, an unknown type, a malformed command, over MAX_FRAME_CHARS, binary that is not
UTF-8) each spend one token of the bad-frame bucket (WS_BAD_FRAME_BURST, refilled at
WS_BAD_FRAMES_PER_MINUTE) and are answered with an error frame; the frame that finds that
bucket empty closes the connection with 1008 (policy violation) and a reason (docs/protocol.md).

While the database is unreachable a command still runs, so chat flows: on the cached row where this
server caches players (it is their only writer, so the row is current: ``mythos.db``), otherwise on
the player as last read, without admin rights (fail closed); what needs the database is refused
with a ``database_unavailable`` error frame and ``retry_after``, and a new connection gets that
frame and close code 1013.

A graceful stop (`AppServices.drain`) lets the command a connection is running finish and its
reply go out; a command that arrives once the stop began is refused with ``server_restarting``
and ``retry_after``; then the socket closes with 1012 (service restart), so the client reconnects
at once, here after the restart or on another server.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from mythos.auth import AuthError
from mythos.commands.context import Actor
from mythos.commands.pipeline import process_command_unified
from mythos.db import DatabaseUnavailableError
from mythos.observability.logging import get_logger
from mythos.realtime.connections import Connection
from mythos.realtime.events import EventType, error_message, utc_now_iso
from mythos.realtime.session import SessionRegistryUnavailable, open_connection
from mythos.services import AppServices

__all__ = [
    "CLOSE_EVICTED",
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_SERVICE_RESTART",
    "CLOSE_TRY_AGAIN_LATER",
    "CLOSE_UNAUTHORIZED",
    "FrameBudget",
    "serve_websocket",
]

log = get_logger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_EVICTED = 4409
CLOSE_OVERFLOW = 4408
CLOSE_POLICY_VIOLATION = 1008  # RFC 6455: a message that violates the endpoint's policy
CLOSE_TRY_AGAIN_LATER = 1013  # IANA registry: a temporary condition, e.g. the session registry is unreachable
CLOSE_SERVICE_RESTART = 1012  # IANA registry: the server is restarting; reconnect (here or elsewhere)
# A refused command's retry hint while the server stops: reconnecting takes about this long.
RESTART_RETRY_AFTER_S = 1.0
RESTART_TEXT = "The server is restarting: reconnect and send that again."
# When a stop closes the socket while the reader is handling a frame it already took (a command
# racing the close), how long the reader gets to answer it (a refusal) before the close.
RESTART_LINGER_S = 1.0
MAX_FRAME_CHARS = 16_384
REASON_INVALID_FRAMES = "policy violation: too many invalid frames"
REASON_PINGS = "policy violation: too many pings"
# How long a refusal waits for earlier results to be sent first (see `_after_queued_events`).
ORDER_WAIT_S = 0.5


@dataclass
class TokenBucket:
    """`capacity` tokens, refilled at `rate` per second."""

    capacity: float
    rate: float
    clock: Any = time.monotonic
    tokens: float = field(init=False)
    _stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.capacity
        self._stamp = self.clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def wait(self) -> float:
        """Seconds until the next token."""
        return max(0.0, (1 - self.tokens) / self.rate)


@dataclass
class FrameBudget:
    """One connection's budget for frames that are not commands."""

    pings: TokenBucket
    bad_frames: TokenBucket

    @classmethod
    def for_connection(cls, services: AppServices) -> FrameBudget:
        server = services.config.server
        return cls(
            TokenBucket(server.ws_ping_burst, server.ws_pings_per_second),
            TokenBucket(server.ws_bad_frame_burst, server.ws_bad_frames_per_minute / 60.0),
        )


class _Sender:
    """Serializes writes: the event pump and the command loop share one socket."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self._lock = asyncio.Lock()

    async def send(self, payload: dict[str, Any]) -> None:
        async with self._lock:
            await self.ws.send_text(json.dumps(payload, separators=(",", ":")))


async def serve_websocket(
    ws: WebSocket,
    services: AppServices,
    token: str | None,
    session_id: str | None,
    last_event_id: int | None,
) -> None:
    await ws.accept()
    try:
        player = await services.auth.authenticate(token)
    except AuthError:
        # Accept first, then close: a close code is only visible after the handshake.
        await ws.close(code=CLOSE_UNAUTHORIZED, reason="unauthorized")
        return
    except DatabaseUnavailableError as down:
        # The token cannot be checked against the players table: say so, and "try again later".
        await ws.send_text(json.dumps(error_message("database_unavailable", down.message, down.retry_after)))
        await ws.close(code=CLOSE_TRY_AGAIN_LATER, reason="try again later: database unavailable")
        return
    try:
        conn = await open_connection(services, player, session_id, "ws", last_event_id)
    except SessionRegistryUnavailable as refused:
        # Several servers: a new session nobody can check is refused (docs/adr/ADR-006).
        await ws.send_text(json.dumps(error_message("unavailable", refused.message, refused.retry_after)))
        await ws.close(code=CLOSE_TRY_AGAIN_LATER, reason=f"try again later: {refused.reason}"[:120])
        return
    sender = _Sender(ws)
    # The name never changes: the rate check runs on it before the player is read again.
    actor = Actor.from_player(player)
    await _preload_aliases(services, actor)
    pump = asyncio.create_task(_pump(sender, conn))
    idle = asyncio.Event()  # set while the reader waits for a frame
    reader = asyncio.create_task(_read(ws, sender, conn, services, actor, idle))
    try:
        done, _ = await asyncio.wait({pump, reader}, return_when=asyncio.FIRST_COMPLETED)
        if reader in done and conn.close_reason in ("quit", "restart"):
            # Let the pump flush the goodbye (or what was queued before a refusal) before the socket closes.
            await asyncio.wait({pump}, timeout=2.0)
        if conn.close_reason == "restart" and not reader.done():
            await _answer_taken_frame(reader, idle)
    finally:
        for task in (pump, reader):
            task.cancel()
        for task in (pump, reader):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        services.connections.disconnect(conn)
        code = _CLOSE_CODES.get(conn.close_reason or "", 1000)
        if ws.application_state == WebSocketState.CONNECTED and ws.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await ws.close(code=code, reason=conn.close_reason or "")


async def _pump(sender: _Sender, conn: Connection) -> None:
    while True:
        event = await conn.queue.get()
        if event is None:
            return
        await sender.send(event.to_dict())
        if event.event_type == EventType.SESSION_EVICTED:
            return


_CLOSE_CODES = {
    "evicted": CLOSE_EVICTED,
    "overflow": CLOSE_OVERFLOW,
    "restart": CLOSE_SERVICE_RESTART,
    "shutdown": CLOSE_SERVICE_RESTART,
    REASON_INVALID_FRAMES: CLOSE_POLICY_VIOLATION,
    REASON_PINGS: CLOSE_POLICY_VIOLATION,
}


async def _answer_taken_frame(reader: asyncio.Task[None], idle: asyncio.Event) -> None:
    """The stop closed the socket: a frame the reader already took still gets its answer (a
    command sent just before the close is refused with `server_restarting`, not dropped)."""
    await asyncio.sleep(0)  # a frame that just arrived: let the reader take it
    if idle.is_set():
        return
    waiter = asyncio.create_task(idle.wait())
    try:
        await asyncio.wait({reader, waiter}, timeout=RESTART_LINGER_S, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


async def _read(
    ws: WebSocket, sender: _Sender, conn: Connection, services: AppServices, actor: Actor, idle: asyncio.Event
) -> None:
    ip = ws.client.host if ws.client else None
    budget = FrameBudget.for_connection(services)

    async def refuse(error_type: str, text: str, close_reason: str, retry_after: float | None = None) -> bool:
        """Spend a bad-frame token and answer; True when the budget is gone and the socket closes."""
        if not budget.bad_frames.take():
            log.warning("ws_closed_for_policy", player_id=conn.player_id, reason=close_reason, ip=ip)
            conn.close(close_reason)
            return True
        await sender.send(error_message(error_type, text, retry_after))
        return False

    while True:
        idle.set()
        try:
            frame = await ws.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        idle.clear()
        if frame["type"] == "websocket.disconnect":
            return
        message = _decode_frame(frame)
        if message is None:
            if await refuse("invalid_message", "Expected a JSON object with a 'type'.", REASON_INVALID_FRAMES):
                return
            continue
        kind = message.get("type")
        if kind == "ping":
            if budget.pings.take():
                await sender.send({"type": "pong", "timestamp": utc_now_iso()})
            elif await refuse("rate_limited", "Too many pings: slow down.", REASON_PINGS, budget.pings.wait()):
                return
        elif kind == "command":
            data = message.get("data")
            command = data.get("command") if isinstance(data, dict) else None
            if not isinstance(command, str):
                if await refuse("invalid_message", "A command message needs data.command.", REASON_INVALID_FRAMES):
                    return
                continue
            connections = services.connections
            if connections.draining:
                # The server is stopping: say so, then close with 1012 (no await before the check
                # and the count below, so the drain never misses a command that started).
                await _after_queued_events(conn)
                await sender.send(error_message("server_restarting", RESTART_TEXT, RESTART_RETRY_AFTER_S))
                conn.close("restart")
                return
            with connections.command_in_flight():  # until its reply (or error frame) is out
                try:
                    quit_now, actor, hold_s = await _run_command(command, sender, conn, services, actor, ip)
                except Exception as exc:  # one failing command must not take the session down
                    log.exception("command_failed", player_id=conn.player_id, error=str(exc))
                    await sender.send(error_message("internal_error", "That command failed; please try again."))
                    continue
            if quit_now:
                conn.close("quit")
                return
            if hold_s > 0:
                # Past the limit: read nothing more until the window has room (module docstring).
                # Idle meanwhile, so a stop or an eviction closes the socket without waiting.
                idle.set()
                await asyncio.sleep(hold_s)
        else:
            if await refuse("invalid_message", f"Unknown message type {str(kind)[:40]!r}.", REASON_INVALID_FRAMES):
                return


async def _run_command(
    command: str, sender: _Sender, conn: Connection, services: AppServices, actor: Actor, ip: str | None
) -> tuple[bool, Actor, float]:
    """Run one command; returns whether the player quit, the player as last read, and how long
    to hold the socket unread (past the rate limit: until the window has room, else 0)."""
    security = services.game.security
    # The rate check first: a refused command costs no database read.
    verdict = security.check_rate(actor)
    if not verdict.allowed:
        error_type = verdict.error_type or "rate_limited"
        metadata = {"source": "ws", "session_id": conn.session_id, "error_type": error_type, **verdict.details}
        security.audit(actor, command.strip(), success=False, source="ws", ip_address=ip, metadata=metadata)
        await _after_queued_events(conn)
        await sender.send(error_message(error_type, verdict.message or "Too many commands.", verdict.retry_after))
        window_s = services.config.security.rate_limit_window_seconds
        return False, actor, min(float(verdict.retry_after or 0.0), window_s)
    try:
        player = await services.db.get_player(conn.player_id)
    except DatabaseUnavailableError:
        # Not cached (or no cache): chat needs no database, so run on what was last read, in the
        # room this server last put the player in, without admin rights (fail closed). What needs
        # the database is refused by the pipeline with a retry hint.
        actor = _last_known(services, conn, actor)
    else:
        if player is None:
            await sender.send(error_message("unauthorized", "Your account no longer exists."))
            return True, actor, 0.0
        actor = Actor.of_row(player)
    result = await process_command_unified(
        command, actor, services.game, source="ws", ip_address=ip, session_id=conn.session_id, rate_checked=True
    )
    if result.refused:
        error_type = result.error_type or "invalid_command"
        await _after_queued_events(conn)
        await sender.send(error_message(error_type, result.text, result.retry_after))
        if error_type == "rate_limited" and result.retry_after:  # an alias past the budget
            return False, actor, min(float(result.retry_after), services.config.security.rate_limit_window_seconds)
        return False, actor, 0.0
    services.connections.send_to_player(
        conn.player_id,
        EventType.COMMAND_RESULT,
        result.envelope_data(command),
        room_id=str(result.data.get("room_id", actor.room_id)),
    )
    return result.quit, actor, 0.0


async def _preload_aliases(services: AppServices, actor: Actor) -> None:
    """Read the player's aliases while the database answers (it just did), so their commands,
    chat included, still expand if it goes away before their first one."""
    if services.game.aliases is None:
        return
    with contextlib.suppress(DatabaseUnavailableError):
        await services.game.aliases.storage.ensure_loaded(actor.name)


def _last_known(services: AppServices, conn: Connection, actor: Actor) -> Actor:
    room_id = next((c.room_id for c in services.connections.online_players() if c.player_id == conn.player_id),
                   actor.room_id)
    return dataclasses.replace(actor, room_id=room_id, is_admin=False)


async def _after_queued_events(conn: Connection, limit_s: float = ORDER_WAIT_S) -> None:
    """Let the pump take the events already queued (results of earlier commands), so an error
    frame sent directly does not overtake them; bounded, since a slow socket may keep the queue
    from draining."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    # Polled: the queue (mythos.realtime.connections) has no "drained" event to wait on.
    while not conn.queue.empty() and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.001)


def _decode_frame(frame: Mapping[str, Any]) -> dict[str, Any] | None:
    """The frame's JSON object; None for anything else (binary must be UTF-8 JSON too)."""
    text = frame.get("text")
    if text is None:
        raw = frame.get("bytes")
        if raw is None or len(raw) > MAX_FRAME_CHARS * 4:
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return _decode(text)


def _decode(text: str) -> dict[str, Any] | None:
    if len(text) > MAX_FRAME_CHARS:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
