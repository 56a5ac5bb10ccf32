"""Routes game events: chat and movement announcements go out over NATS and come back from
the subscription to the local players they concern, so several mythos processes share rooms.
"""

from __future__ import annotations

from typing import Any

from mythos.observability.logging import get_logger
from mythos.realtime.chat import ChatMessage
from mythos.realtime.connections import ConnectionManager
from mythos.realtime.events import EventType
from mythos.realtime.nats_service import NATSService, PublishOutcome
from mythos.world import World

__all__ = ["Broadcaster"]

log = get_logger(__name__)

CHAT_NOT_DELIVERED = "chat_not_delivered"
"""The `kind` of the system notice a sender gets when a queued line of theirs will not be sent."""


class Broadcaster:
    """Publishes chat through NATS and delivers what the subscription hands back."""

    def __init__(
        self,
        connections: ConnectionManager,
        nats: NATSService,
        world: World,
        npcs_by_room: dict[str, list[str]] | None = None,
    ) -> None:
        self.connections = connections
        self.nats = nats
        self.world = world
        self.npcs_by_room = npcs_by_room or {}
        self._room_views: dict[str, dict[str, Any]] = {}
        """room_state's ``room`` per room id: read-only, shared by every event that carries it."""
        # The outbox's refusals reach their senders through the one object that knows the players.
        nats.on_undelivered = self.notify_undelivered

    # Outgoing

    async def publish_chat(self, message: ChatMessage) -> PublishOutcome:
        """Chat is delivered only from NATS, so a refused publish means nobody saw it."""
        return await self.nats.publish_chat(message)

    async def announce(self, channel: str, player_id: int, name: str, room_id: str, content: str) -> None:
        """Movement news: through NATS when it is up, else straight to local players."""
        message = ChatMessage(player_id, name, channel, content, room_id=room_id)
        outcome = await self.nats.publish_chat(message)
        if not outcome.delivered:
            await self.deliver(message)

    def notify_undelivered(self, message: ChatMessage, age_s: float) -> None:
        """Tell a sender that a line they were told was queued will not be sent after all."""
        text = (f"Your message \"{_preview(message.content)}\" was not delivered: chat was unavailable for "
                f"{age_s:.0f} s, longer than this server keeps messages to resend. It was kept for the "
                "operators; send it again if it still matters.")
        data = {"message": text, "kind": CHAT_NOT_DELIVERED, "message_id": message.message_id,
                "channel": message.channel, "content": message.content, "timestamp": message.timestamp}
        if self.connections.send_to_player(message.sender_id, EventType.SYSTEM, data) is None:
            log.info("chat_not_delivered_sender_offline", message_id=message.message_id,
                     sender_id=message.sender_id)

    # Incoming (the NATS consume callback)

    async def deliver(self, message: ChatMessage) -> None:
        channel = message.channel
        if channel in ("say", "emote") and message.room_id:
            self.connections.send_to_room(message.room_id, EventType.CHAT, self._chat_data(message))
        elif channel == "whisper" and message.target_id is not None:
            if self.connections.is_online(message.target_id):
                self.connections.send_to_player(message.target_id, EventType.CHAT, self._chat_data(message))
        elif channel in ("global", "system"):
            self.connections.broadcast(EventType.CHAT, self._chat_data(message))
        elif channel in ("player_entered", "player_left") and message.room_id:
            self.connections.send_to_room(
                message.room_id,
                channel,
                {
                    "player_id": message.sender_id,
                    "player_name": message.sender_name,
                    "room_id": message.room_id,
                    "message": message.content,
                },
                exclude=(message.sender_id,),
            )
        else:
            log.warning("chat_undeliverable", channel=channel, message_id=message.message_id)

    @staticmethod
    def _chat_data(message: ChatMessage) -> dict[str, Any]:
        data: dict[str, Any] = {
            "channel": message.channel,
            "sender_name": message.sender_name,
            "sender_id": message.sender_id,
            "content": message.content,
            "message_id": message.message_id,
            "room_id": message.room_id,
            "timestamp": message.timestamp,
        }
        if message.target_id is not None:
            data["target_id"] = message.target_id
        return data

    # Room view

    def room_state_data(self, room_id: str) -> dict[str, Any]:
        room = self.world.room_or_start(room_id)
        view = self._room_views.get(room.id)
        if view is None:  # the world never changes: each room's view is built once, then shared
            view = self._room_views[room.id] = room.to_dict()
        occupants = [c.name for c in self.connections.players_in_room(room.id)]
        occupants.sort()
        return {"room": view, "occupants": occupants, "npcs": list(self.npcs_by_room.get(room.id, ()))}

    def send_room_state(self, player_id: int, room_id: str, state: dict[str, Any] | None = None) -> None:
        """``state``: the room_state_data the caller already built for this room (look), else built here."""
        data = state if state is not None else self.room_state_data(room_id)
        self.connections.send_to_player(player_id, EventType.ROOM_STATE, data, room_id=room_id)


def _preview(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
