"""Load the world from its JSON data file (the packaged one unless WORLD_FILE names another)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from mythos.world.model import Room, World, WorldError

__all__ = ["load_world", "parse_world"]


def parse_world(data: Any) -> World:
    """Build a World from the decoded JSON document, refusing malformed data early."""
    if not isinstance(data, dict) or not isinstance(data.get("rooms"), list):
        raise WorldError("world data must be an object with a 'rooms' list")
    rooms: dict[str, Room] = {}
    for item in data["rooms"]:
        try:
            room = Room(
                id=str(item["id"]),
                name=str(item["name"]),
                description=str(item["description"]),
                exits={str(k): str(v) for k, v in dict(item.get("exits", {})).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WorldError(f"malformed room entry {item!r}: {exc}") from exc
        if room.id in rooms:
            raise WorldError(f"duplicate room id {room.id!r}")
        rooms[room.id] = room
    start = str(data.get("start_room") or next(iter(rooms), ""))
    return World(rooms, start)


def load_world(path: Path | None = None) -> World:
    """Read rooms from `path`, or from the rooms.json shipped inside the package."""
    if path is None:
        text = resources.files("mythos.world").joinpath("data/rooms.json").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    try:
        return parse_world(json.loads(text))
    except json.JSONDecodeError as exc:
        raise WorldError(f"world file is not valid JSON: {exc}") from exc
