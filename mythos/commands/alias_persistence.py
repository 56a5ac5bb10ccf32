"""Aliases kept for good in the player database (the ``aliases`` table, one row per alias).

``AliasStorage`` keys players by name; the table keys them by id, so each call resolves the
name case-insensitively, as logins do. A write for a player who does not exist is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from mythos.db import Alias, Database, Player

__all__ = ["DatabaseAliasPersistence", "UnknownPlayerError"]


class UnknownPlayerError(LookupError):
    """No player has that name: there is nobody to store the alias for."""


class DatabaseAliasPersistence:
    """The ``AliasPersistence`` of a running server."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def load_aliases(self, player_name: str) -> Sequence[tuple[str, str]]:
        async with self.db.session() as session:
            rows = await session.execute(
                select(Alias.name, Alias.command)
                .join(Player, Player.id == Alias.player_id)
                .where(Player.username_key == player_name.lower())
                .order_by(Alias.id)
            )
            return [(name, command) for name, command in rows.all()]

    async def save_alias(self, player_name: str, name: str, command: str) -> None:
        async with self.db.session() as session:
            player_id = await _player_id(session, player_name)
            row = await session.scalar(select(Alias).where(Alias.player_id == player_id, Alias.name == name))
            if row is None:
                session.add(Alias(player_id=player_id, name=name, command=command))
            else:
                row.command = command
            await session.commit()

    async def delete_alias(self, player_name: str, name: str) -> None:
        async with self.db.session() as session:
            player_id = await _player_id(session, player_name)
            await session.execute(delete(Alias).where(Alias.player_id == player_id, Alias.name == name))
            await session.commit()


async def _player_id(session: AsyncSession, player_name: str) -> int:
    player_id = await session.scalar(select(Player.id).where(Player.username_key == player_name.lower()))
    if player_id is None:
        raise UnknownPlayerError(player_name)
    return int(player_id)
