"""The game world: rooms loaded from a data file, and the exits between them."""

from mythos.world.loader import load_world, parse_world
from mythos.world.model import DIRECTIONS, Room, World, WorldError

__all__ = ["DIRECTIONS", "Room", "World", "WorldError", "load_world", "parse_world"]
