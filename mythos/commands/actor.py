"""Who runs a command: a snapshot of the player, below both the pipeline and the security seam."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mythos.db import Player

__all__ = ["Actor"]


@dataclass(frozen=True)
class Actor:
    """A snapshot of the player running a command, as stored (the command path reads the row
    through the player cache of `mythos.db`, which this server's writes keep current)."""

    id: int
    name: str
    room_id: str
    is_admin: bool = False
    is_muted: bool = False

    @classmethod
    def from_player(cls, player: Player) -> Actor:
        return cls(player.id, player.username, player.room_id, player.is_admin, player.is_muted)
