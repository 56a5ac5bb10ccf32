"""WebSocket transport: commands and pings in, event envelopes and error frames out."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from mythos.auth import AuthError
from mythos.commands.context import Actor
from mythos.commands.pipeline import process_command_unified
from mythos.observability.logging import get_logger
from mythos.realtime.connections import Connection
from mythos.realtime.events import EventType, error_message, utc_now_iso
from mythos.realtime.session import open_connection
from mythos.services import AppServices

__all__ = ["CLOSE_EVICTED", "CLOSE_UNAUTHORIZED", "serve_websocket"]

log = get_logger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_EVICTED = 4409
CLOSE_OVERFLOW = 4408
MAX_FRAME_CHARS = 16_384


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
    conn = open_connection(services, player, session_id, "ws", last_event_id)
    sender = _Sender(ws)
    pump = asyncio.create_task(_pump(sender, conn))
    reader = asyncio.create_task(_read(ws, sender, conn, services))
    try:
        done, _ = await asyncio.wait({pump, reader}, return_when=asyncio.FIRST_COMPLETED)
        if reader in done and conn.close_reason == "quit":
            # Let the pump flush the goodbye before the socket closes.
            await asyncio.wait({pump}, timeout=2.0)
    finally:
        for task in (pump, reader):
            task.cancel()
        for task in (pump, reader):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        services.connections.disconnect(conn)
        code = {"evicted": CLOSE_EVICTED, "overflow": CLOSE_OVERFLOW}.get(conn.close_reason or "", 1000)
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


async def _read(ws: WebSocket, sender: _Sender, conn: Connection, services: AppServices) -> None:
    ip = ws.client.host if ws.client else None
    while True:
        try:
            frame = await ws.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if frame["type"] == "websocket.disconnect":
            return
        text = frame.get("text")
        if text is None and frame.get("bytes") is not None:
            text = frame["bytes"].decode("utf-8", errors="replace")
        message = _decode(text or "")
        if message is None:
            await sender.send(error_message("invalid_message", "Expected a JSON object with a 'type'."))
            continue
        kind = message.get("type")
        if kind == "ping":
            await sender.send({"type": "pong", "timestamp": utc_now_iso()})
        elif kind == "command":
            data = message.get("data")
            command = data.get("command") if isinstance(data, dict) else None
            if not isinstance(command, str):
                await sender.send(error_message("invalid_message", "A command message needs data.command."))
                continue
            try:
                quit_now = await _run_command(command, sender, conn, services, ip)
            except Exception as exc:  # one failing command must not take the session down
                log.exception("command_failed", player_id=conn.player_id, error=str(exc))
                await sender.send(error_message("internal_error", "That command failed; please try again."))
                continue
            if quit_now:
                conn.close("quit")
                return
        else:
            await sender.send(error_message("invalid_message", f"Unknown message type {kind!r}."))


async def _run_command(
    command: str, sender: _Sender, conn: Connection, services: AppServices, ip: str | None
) -> bool:
    """Run one command; True when the player quit."""
    player = await services.db.get_player(conn.player_id)
    if player is None:
        await sender.send(error_message("unauthorized", "Your account no longer exists."))
        return True
    actor = Actor.from_player(player)
    result = await process_command_unified(
        command, actor, services.game, source="ws", ip_address=ip, session_id=conn.session_id
    )
    if result.refused:
        error_type = result.error_type or "invalid_command"
        await sender.send(error_message(error_type, result.text, result.retry_after))
        return False
    services.connections.send_to_player(
        conn.player_id,
        EventType.COMMAND_RESULT,
        result.envelope_data(command),
        room_id=str(result.data.get("room_id", actor.room_id)),
    )
    return result.quit


def _decode(text: str) -> dict[str, Any] | None:
    if len(text) > MAX_FRAME_CHARS:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
