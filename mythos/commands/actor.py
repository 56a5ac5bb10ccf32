"""Who runs a command: a snapshot of the player, below both the pipeline and the security seam."""

from __future__ import annotations

import weakref
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

    @classmethod
    def of_row(cls, player: Player) -> Actor:
        """``from_player``, once per row object: the player cache hands out the same row until a
        write replaces it, and a cached row is never changed in place (mythos.db), so the same
        object is the same snapshot. Saves reading five ORM attributes on every command."""
        actor = _BY_ROW.get(player)
        if actor is None:
            actor = _BY_ROW[player] = cls.from_player(player)
        return actor


_BY_ROW: weakref.WeakKeyDictionary[Player, Actor] = weakref.WeakKeyDictionary()
