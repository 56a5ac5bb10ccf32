"""Moving a player: persist the position, tell both rooms, show the new room to the mover."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mythos.world.model import Room

if TYPE_CHECKING:
    from mythos.commands.context import GameServices

__all__ = ["ARRIVES_FROM", "relocate"]

# Leaving north means arriving from the south, as seen by those in the next room.
ARRIVES_FROM = {
    "north": "from the south",
    "south": "from the north",
    "east": "from the west",
    "west": "from the east",
    "up": "from below",
    "down": "from above",
}


async def relocate(
    services: GameServices,
    player_id: int,
    name: str,
    from_room_id: str,
    to_room: Room,
    *,
    direction: str | None = None,
) -> None:
    """Move `player_id` to `to_room`; announcements exclude the mover, room_state goes to them."""
    await services.db.update_player(player_id, room_id=to_room.id)
    services.connections.set_room(player_id, to_room.id)
    if direction:
        left = f"{name} leaves {direction}."
        arrived = f"{name} arrives {ARRIVES_FROM.get(direction, 'from somewhere')}."
    else:
        left = f"{name} vanishes in a swirl of grey mist."
        arrived = f"{name} appears out of a swirl of grey mist."
    if from_room_id != to_room.id:
        await services.broadcaster.announce("player_left", player_id, name, from_room_id, left)
        await services.broadcaster.announce("player_entered", player_id, name, to_room.id, arrived)
    services.broadcaster.send_room_state(player_id, to_room.id)
