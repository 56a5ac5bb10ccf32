"""Opening a player's real-time session, shared by the SSE and WebSocket transports."""

from __future__ import annotations

import uuid

from mythos.db import Player
from mythos.realtime.connections import Connection
from mythos.services import AppServices

__all__ = ["open_connection", "parse_last_event_id"]


def parse_last_event_id(*candidates: str | int | None) -> int | None:
    """The first candidate that is an integer; a garbled Last-Event-ID means "no replay"."""
    for value in candidates:
        if value is None or value == "":
            continue
        try:
            return int(value)
        except (TypeError, ValueError):
            continue
    return None


def open_connection(
    services: AppServices,
    player: Player,
    session_id: str | None,
    transport: str,
    last_event_id: int | None,
) -> Connection:
    """Register the connection (replaying what was missed), then show the player where they are.

    The room is shown once per session: a second transport of a live session (the WebSocket
    beside the event stream) would otherwise print the room description twice.
    """
    session_live = services.connections.has_live_session(player.id, session_id)
    conn = services.connections.connect(
        player.id,
        player.username,
        services.world.room_or_start(player.room_id).id,
        session_id or uuid.uuid4().hex,
        transport,
        last_event_id=last_event_id,
    )
    if not session_live:
        services.broadcaster.send_room_state(player.id, services.world.room_or_start(player.room_id).id)
    return conn
