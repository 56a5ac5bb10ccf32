"""Rooms and the world graph: pure data, no I/O, so movement rules are trivially testable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DIRECTIONS", "Room", "World", "WorldError"]

DIRECTIONS: tuple[str, ...] = ("north", "south", "east", "west", "up", "down")


class WorldError(ValueError):
    """The world data is inconsistent (unknown exit target, missing start room, ...)."""


@dataclass(frozen=True)
class Room:
    id: str
    name: str
    description: str
    exits: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "description": self.description, "exits": dict(self.exits)}


class World:
    """An immutable set of rooms linked by named exits."""

    def __init__(self, rooms: Mapping[str, Room], start_room_id: str) -> None:
        if start_room_id not in rooms:
            raise WorldError(f"start room {start_room_id!r} is not a room")
        for room in rooms.values():
            for direction, target in room.exits.items():
                if direction not in DIRECTIONS:
                    raise WorldError(f"room {room.id!r} has an unknown direction {direction!r}")
                if target not in rooms:
                    raise WorldError(f"room {room.id!r} exit {direction!r} leads to unknown room {target!r}")
        self._rooms = dict(rooms)
        self.start_room_id = start_room_id

    @property
    def start_room(self) -> Room:
        return self._rooms[self.start_room_id]

    def __len__(self) -> int:
        return len(self._rooms)

    def __contains__(self, room_id: object) -> bool:
        return room_id in self._rooms

    def rooms(self) -> list[Room]:
        return list(self._rooms.values())

    def get(self, room_id: str) -> Room | None:
        return self._rooms.get(room_id)

    def room_or_start(self, room_id: str | None) -> Room:
        """A stored position may name a room removed from the data file: fall back to the start."""
        return self._rooms.get(room_id or "", self.start_room)

    def exit_from(self, room_id: str, direction: str) -> Room | None:
        room = self._rooms.get(room_id)
        if room is None:
            return None
        target = room.exits.get(direction)
        return self._rooms[target] if target else None
