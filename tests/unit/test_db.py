from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from mythos.db import SEED_NPCS, Alias, Database
from tests.factories import make_config


async def test_tables_npcs_and_aliases(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    db = Database(config.database.url, config.database.npc_url)
    assert not await db.ping()
    await db.start()
    try:
        assert await db.ping()
        assert {n.name for n in await db.all_npcs()} == {n["name"] for n in SEED_NPCS}
        player = await db.create_player("Alice", "hash", "hall")
        assert (await db.get_player_by_name("ALICE")) is not None
        assert await db.update_player(9999, room_id="x") is None
        async with db.session() as session:
            session.add(Alias(player_id=player.id, name="n2", command="n;n"))
            await session.commit()
        with pytest.raises(IntegrityError):
            async with db.session() as session:
                session.add(Alias(player_id=player.id, name="n2", command="other"))
                await session.commit()
    finally:
        await db.stop()
    # A restart seeds nothing twice.
    again = Database(config.database.url, config.database.npc_url)
    await again.start()
    try:
        assert len(await again.all_npcs()) == len(SEED_NPCS)
    finally:
        await again.stop()


async def test_unstarted_database_refuses_sessions(tmp_path: Path) -> None:
    db = Database("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///y.db")
    with pytest.raises(RuntimeError):
        async with db.session():
            pass
    with pytest.raises(RuntimeError):
        await db.all_npcs()
