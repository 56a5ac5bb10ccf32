from __future__ import annotations

import json
from pathlib import Path

import pytest

from mythos.world import DIRECTIONS, WorldError, load_world, parse_world
from tests.factories import make_room, make_world

OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east", "up": "down", "down": "up"}


def test_packaged_world_is_big_enough_and_consistent() -> None:
    world = load_world()
    assert len(world) >= 8
    assert world.start_room.id == "arkham_square"
    for room in world.rooms():
        assert room.exits, f"{room.id} is a dead end with no way out"
        for direction, target in room.exits.items():
            assert direction in DIRECTIONS
            # Every exit leads back the way it came.
            assert world.exit_from(target, OPPOSITE[direction]) == room


def test_movement_lookups() -> None:
    world = make_world()
    assert world.exit_from("hall", "north") == world.get("study")
    assert world.exit_from("hall", "south") is None
    assert world.exit_from("nowhere", "north") is None
    assert world.room_or_start("gone").id == "hall"
    assert world.room_or_start(None).id == "hall"
    assert "study" in world and "attic" not in world
    assert world.get("hall") is not None and world.get("hall").to_dict()["exits"] == {"north": "study"}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"rooms": "x"},
        {"rooms": [{"id": "a"}]},
        {"rooms": [{"id": "a", "name": "A", "description": "d", "exits": {"north": "b"}}]},
        {"rooms": [{"id": "a", "name": "A", "description": "d", "exits": {"sideways": "a"}}]},
        {"rooms": [{"id": "a", "name": "A", "description": "d"}] * 2},
        {"start_room": "b", "rooms": [{"id": "a", "name": "A", "description": "d"}]},
    ],
)
def test_malformed_worlds_are_refused(data: object) -> None:
    with pytest.raises(WorldError):
        parse_world(data)


def test_world_file_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"rooms": [{"id": "only", "name": "Only", "description": "d"}]}))
    assert load_world(path).start_room_id == "only"
    path.write_text("{nope")
    with pytest.raises(WorldError):
        load_world(path)


def test_factories_build_rooms() -> None:
    assert make_room("x", east="y").exits == {"east": "y"}
