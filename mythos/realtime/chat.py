"""Chat messages as they travel over NATS, and the subjects they travel on."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from mythos.realtime.events import utc_now_iso

__all__ = ["CHANNELS", "ChatMessage", "subject_for"]

CHANNELS = ("say", "emote", "whisper", "global", "system", "player_entered", "player_left")


@dataclass(frozen=True)
class ChatMessage:
    """The NATS body: message_id, sender_id, sender_name, channel, content, timestamp, room_id, target_id?."""

    sender_id: int
    sender_name: str
    channel: str
    content: str
    room_id: str | None = None
    target_id: int | None = None
    message_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    timestamp: str = field(default_factory=utc_now_iso)
    target_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None or k == "room_id"}

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, payload: bytes) -> ChatMessage:
        """Decode a body; raises ValueError for anything that is not a well-formed message."""
        try:
            raw: Any = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise ValueError(f"malformed chat message: {exc}") from exc
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: Any) -> ChatMessage:
        """Build from a decoded body; raises ValueError for anything that is not a message."""
        try:
            if not isinstance(raw, dict):
                raise ValueError("chat body must be a JSON object")
            target = raw.get("target_id")
            return cls(
                sender_id=int(raw["sender_id"]),
                sender_name=str(raw["sender_name"]),
                channel=str(raw["channel"]),
                content=str(raw["content"]),
                room_id=None if raw.get("room_id") is None else str(raw["room_id"]),
                target_id=None if target is None else int(target),
                message_id=str(raw["message_id"]),
                timestamp=str(raw["timestamp"]),
                target_name=None if raw.get("target_name") is None else str(raw["target_name"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed chat message: {exc}") from exc


def subject_for(message: ChatMessage) -> str:
    """The NATS subject of a message (DESIGN.md's subject list)."""
    channel = message.channel
    if channel in ("say", "emote"):
        return f"chat.{channel}.{message.room_id}"
    if channel == "whisper":
        return f"chat.whisper.player.{message.target_id}"
    if channel in ("global", "system"):
        return f"chat.{channel}"
    if channel in ("player_entered", "player_left"):
        return f"events.{channel}.{message.room_id}"
    raise ValueError(f"unknown channel {channel!r}")
