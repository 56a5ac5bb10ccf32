"""The command path's player-row cache: one query per player until a write, never a row older
than this server's last write, fresh on authentication, bounded, and off unless asked for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncSession

import mythos.db as db_module
from mythos.auth import AuthService, InviteStore, TokenService
from mythos.db import Database, DatabaseUnavailableError, Player
from tests.factories import database_section


class CountingDatabase(Database):
    """Counts the statements the player engine runs (reads included)."""

    statements = 0

    async def start(self) -> None:
        await super().start()
        assert self._engine is not None

        def count(*_args: Any) -> None:
            self.statements += 1

        event.listen(self._engine.sync_engine, "before_cursor_execute", count)


async def _database(tmp_path: Path, **kwargs: Any) -> CountingDatabase:
    section = database_section(f"sqlite+aiosqlite:///{tmp_path / 'mythos.db'}", tmp_path)
    db = CountingDatabase(section["url"], section["npc_url"], **kwargs)
    await db.start()
    return db


@pytest.fixture
async def cached(tmp_path: Path) -> AsyncIterator[CountingDatabase]:
    db = await _database(tmp_path, cache_players=True)
    try:
        yield db
    finally:
        await db.stop()


async def _write_behind_its_back(db: Database, player_id: int, **fields: Any) -> None:
    """What another writer of the table does: this object's cache cannot see it."""
    async with db.session() as session:
        await session.execute(update(Player).where(Player.id == player_id).values(**fields))
        await session.commit()


async def test_a_cached_player_is_read_once_until_it_is_written(cached: CountingDatabase) -> None:
    player = await cached.create_player("Armitage", "hash", "hall")
    assert (await cached.get_player(player.id)) is not None
    before = cached.statements
    for _ in range(5):
        row = await cached.get_player(player.id)
        assert row is not None and row.room_id == "hall"
    assert cached.statements == before  # no query at all: the command path's read is free
    await cached.update_player(player.id, room_id="library")
    row = await cached.get_player(player.id)
    assert row is not None and row.room_id == "library"


async def test_without_the_flag_every_read_queries(tmp_path: Path) -> None:
    db = await _database(tmp_path)
    try:
        player = await db.create_player("Wilmarth", "hash", "hall")
        await db.get_player(player.id)
        before = db.statements
        await db.get_player(player.id)
        assert db.statements > before
        await _write_behind_its_back(db, player.id, is_muted=True)
        row = await db.get_player(player.id)
        assert row is not None and row.is_muted
    finally:
        await db.stop()


async def test_a_fresh_read_sees_another_writer_and_refreshes_the_cache(cached: CountingDatabase) -> None:
    player = await cached.create_player("Peaslee", "hash", "hall")
    await cached.get_player(player.id)
    await _write_behind_its_back(cached, player.id, is_admin=True)
    stale = await cached.get_player(player.id)
    assert stale is not None and not stale.is_admin  # the cache only knows this object's writes
    fresh = await cached.get_player(player.id, fresh=True)
    assert fresh is not None and fresh.is_admin
    again = await cached.get_player(player.id)
    assert again is not None and again.is_admin


async def test_a_read_that_overlapped_a_write_is_not_kept(tmp_path: Path) -> None:
    class Racing(CountingDatabase):
        """A write lands (from another task) while a read is between its query and its return."""

        race: int | None = None

        @asynccontextmanager
        async def session(self) -> AsyncIterator[AsyncSession]:
            async with super().session() as session:
                yield session
                if self.race is not None:
                    player_id, self.race = self.race, None
                    await self.update_player(player_id, room_id="attic")

    db = Racing(*database_section(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}", tmp_path).values())
    await db.start()
    try:
        player = await db.create_player("Gilman", "hash", "hall")
        db.cache_players = True
        db.race = player.id
        read = await db.get_player(player.id)
        assert read is not None and read.room_id == "hall"  # read before the write committed
        row = await db.get_player(player.id)
        assert row is not None and row.room_id == "attic"  # the overlapping read was not cached
    finally:
        await db.stop()


async def test_a_failed_write_drops_the_row(cached: CountingDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    player = await cached.create_player("Olmstead", "hash", "hall")
    await cached.get_player(player.id)

    @asynccontextmanager
    async def down() -> AsyncIterator[AsyncSession]:
        raise DatabaseUnavailableError()
        yield  # pragma: no cover

    with monkeypatch.context() as patched:
        patched.setattr(cached, "session", down)
        with pytest.raises(DatabaseUnavailableError):
            await cached.update_player(player.id, room_id="reef")
        # Whether it committed is unknown: nothing is served from the cache for that player.
        with pytest.raises(DatabaseUnavailableError):
            await cached.get_player(player.id)


async def test_a_missing_player_is_not_cached(cached: CountingDatabase) -> None:
    assert await cached.get_player(4242) is None
    player = await cached.create_player("Danforth", "hash", "hall")
    assert await cached.get_player(player.id) is not None


async def test_the_cache_is_bounded(cached: CountingDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_module, "PLAYER_CACHE_MAX", 2)
    ids = [(await cached.create_player(f"P{i}", "hash", "hall")).id for i in range(3)]
    for player_id in ids:
        await cached.get_player(player_id)
    before = cached.statements
    await cached.get_player(ids[2])
    await cached.get_player(ids[1])
    assert cached.statements == before
    await cached.get_player(ids[0])  # the least recently used one was dropped
    assert cached.statements > before


async def test_authentication_reads_the_row_as_stored(cached: CountingDatabase, tmp_path: Path) -> None:
    """A new connection starts from the database, not from what this server cached."""
    tokens = TokenService("k" * 48, timedelta(minutes=5))
    auth = AuthService(cached, InviteStore(tmp_path / "invites.json"), tokens, "hall")
    player = await cached.create_player("Akeley", "hash", "hall")
    await cached.get_player(player.id)
    await _write_behind_its_back(cached, player.id, room_id="vermont")
    authenticated = await auth.authenticate(tokens.issue(player.id, "Akeley"))
    assert authenticated.room_id == "vermont"
    row = await cached.get_player(player.id)  # and the command path now has it too
    assert row is not None and row.room_id == "vermont"
