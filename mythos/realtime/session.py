"""Opening a player's real-time session, shared by the SSE and WebSocket transports."""

from __future__ import annotations

import uuid

from mythos.db import Player
from mythos.realtime.connections import Connection
from mythos.realtime.session_registry import SessionRegistryUnavailable
from mythos.services import AppServices

__all__ = ["SessionRegistryUnavailable", "open_connection", "parse_last_event_id"]


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


async def open_connection(
    services: AppServices,
    player: Player,
    session_id: str | None,
    transport: str,
    last_event_id: int | None,
) -> Connection:
    """Register the connection (replaying what was missed), then show the player where they are.

    The room is shown once per session: a second transport of a live session (the WebSocket
    beside the event stream) would otherwise print the room description twice.

    With several servers (CLUSTER_SESSIONS) the session is first claimed in the session registry,
    which evicts the player's session on any other server; raises SessionRegistryUnavailable when
    a new session cannot be checked there.
    """
    session = session_id or uuid.uuid4().hex
    registry = services.sessions
    if registry is None:
        return _connect(services, player, session, transport, last_event_id)
    async with registry.admission(player.id, session):
        conn = _connect(services, player, session, transport, last_event_id)
    return conn


def _connect(
    services: AppServices, player: Player, session_id: str, transport: str, last_event_id: int | None
) -> Connection:
    session_live = services.connections.has_live_session(player.id, session_id)
    room_id = services.world.room_or_start(player.room_id).id
    conn = services.connections.connect(
        player.id, player.username, room_id, session_id, transport, last_event_id=last_event_id
    )
    if not session_live:
        services.broadcaster.send_room_state(player.id, room_id)
    return conn
