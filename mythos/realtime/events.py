"""The event envelope every server-to-client message uses, on SSE and WebSocket alike."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["EventEnvelope", "EventType", "error_message", "utc_now_iso"]


class EventType:
    """The event vocabulary the client relies on (docs/protocol.md)."""

    ROOM_STATE = "room_state"
    COMMAND_RESULT = "command_result"
    CHAT = "chat"
    PLAYER_ENTERED = "player_entered"
    PLAYER_LEFT = "player_left"
    SYSTEM = "system"
    HEARTBEAT = "heartbeat"
    SESSION_EVICTED = "session_evicted"


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True, slots=True)
class EventEnvelope:
    """One event. `sequence_number` is None only for unsequenced events (heartbeats)."""

    event_type: str
    data: dict[str, Any]
    sequence_number: int | None = None
    timestamp: str = field(default_factory=utc_now_iso)
    room_id: str | None = None
    player_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event_type": self.event_type,
            "sequence_number": self.sequence_number,
            "timestamp": self.timestamp,
            "data": self.data,
        }
        if self.room_id is not None:
            out["room_id"] = self.room_id
        if self.player_id is not None:
            out["player_id"] = self.player_id
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def to_sse(self) -> str:
        """SSE frame: `id:` only for sequenced events, so heartbeats never move Last-Event-ID."""
        lines = [] if self.sequence_number is None else [f"id: {self.sequence_number}"]
        lines += [f"event: {self.event_type}", f"data: {self.to_json()}", "", ""]
        return "\n".join(lines)


def error_message(error_type: str, message: str, retry_after: float | None = None) -> dict[str, Any]:
    """A WebSocket error frame: {type: "error", error_type, message, retry_after?}."""
    out: dict[str, Any] = {"type": "error", "error_type": error_type, "message": message}
    if retry_after is not None:
        out["retry_after"] = round(retry_after, 3)
    return out
