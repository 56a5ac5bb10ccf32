"""The player and NPC databases on both engines, and the migrations that own the player schema."""

from __future__ import annotations

import asyncio
import errno
import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from mythos.db import SEED_NPCS, Alias, Base, Database, SchemaNotCurrentError, is_unavailable
from mythos.migrations.runner import SCRIPT_LOCATION, SchemaStatus, downgrade, head_revision, schema_state, upgrade
from tests.factories import database_section


def _db(url: str, tmp_path: Path, **kwargs: str) -> Database:
    section = database_section(url, tmp_path)
    return Database(section["url"], section["npc_url"], **kwargs)


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_tables_npcs_and_aliases(db_url: str, tmp_path: Path) -> None:
    db = _db(db_url, tmp_path)
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
        # A broken constraint is the statement's fault, not an outage: it stays an IntegrityError.
        with pytest.raises(IntegrityError):
            async with db.session() as session:
                session.add(Alias(player_id=player.id, name="n2", command="other"))
                await session.commit()
    finally:
        await db.stop()
    # A restart seeds nothing twice and finds the schema at head.
    again = _db(db_url, tmp_path)
    await again.start()
    try:
        assert len(await again.all_npcs()) == len(SEED_NPCS)
        assert (await again.get_player_by_name("alice")) is not None
    finally:
        await again.stop()


async def test_unstarted_database_refuses_sessions(tmp_path: Path) -> None:
    db = Database("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///y.db")
    with pytest.raises(RuntimeError):
        async with db.session():
            pass
    with pytest.raises(RuntimeError):
        await db.all_npcs()


# Migrations ----------------------------------------------------------------------------------


async def test_upgrade_downgrade_round_trip(fresh_db_url: str) -> None:
    engine = create_async_engine(fresh_db_url)
    try:
        assert (await schema_state(engine)).status is SchemaStatus.EMPTY
        before, after = await upgrade(engine)
        assert (before.status, after.status, after.current) == (SchemaStatus.EMPTY, SchemaStatus.AT_HEAD, "0001")
        async with engine.connect() as conn:
            assert {"players", "aliases", "alembic_version"} <= await conn.run_sync(_tables)
        _, after = await downgrade(engine, "base")
        assert after.status is SchemaStatus.EMPTY
        async with engine.connect() as conn:
            assert not {"players", "aliases"} & await conn.run_sync(_tables)
        _, after = await upgrade(engine, "head")
        assert after.status is SchemaStatus.AT_HEAD
    finally:
        await engine.dispose()


async def test_the_migrated_schema_is_the_models_schema(fresh_db_url: str) -> None:
    """Autogenerate finds nothing to do after ``upgrade head``: the revisions and models agree."""
    engine = create_async_engine(fresh_db_url)
    try:
        await upgrade(engine)

        def diff(conn: Connection) -> list[object]:
            return list(compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata))

        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


async def test_an_empty_database_is_brought_to_head_on_first_start(fresh_db_url: str, tmp_path: Path) -> None:
    db = _db(fresh_db_url, tmp_path)
    await db.start()
    try:
        await db.create_player("Wilbur", "hash", "hall")
        engine = create_async_engine(fresh_db_url)
        try:
            state = await schema_state(engine)
        finally:
            await engine.dispose()
        assert (state.status, state.current) == (SchemaStatus.AT_HEAD, head_revision())
    finally:
        await db.stop()


async def test_tables_made_before_migrations_are_refused_until_upgraded(fresh_db_url: str, tmp_path: Path) -> None:
    """A database of an earlier release (create_all, no alembic_version) keeps its players."""
    engine = create_async_engine(fresh_db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await conn.execute(text(
                "INSERT INTO players (username, username_key, password_hash, room_id, is_admin, is_muted, created_at)"
                " VALUES ('Lavinia', 'lavinia', 'h', 'hall', false, false, CURRENT_TIMESTAMP)"
            ))
        with pytest.raises(SchemaNotCurrentError, match=r"made before migrations.*Run `mythos db upgrade`"):
            await _db(fresh_db_url, tmp_path).start()
        before, after = await upgrade(engine)
        assert (before.status, after.status) == (SchemaStatus.UNVERSIONED, SchemaStatus.AT_HEAD)
    finally:
        await engine.dispose()
    db = _db(fresh_db_url, tmp_path)
    await db.start()
    try:
        assert (await db.get_player_by_name("lavinia")) is not None
    finally:
        await db.stop()


REVISION_0002 = '''"""A title for players (test only)."""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("players") as batch:
        batch.add_column(sa.Column("title", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("players") as batch:
        batch.drop_column("title")
'''


@pytest.fixture
def next_release(tmp_path: Path) -> str:
    """The migrations of a release one revision ahead: ours plus 0002 (adds a nullable column)."""
    location = tmp_path / "next-release-migrations"
    shutil.copytree(SCRIPT_LOCATION, location, ignore=shutil.ignore_patterns("__pycache__"))
    (location / "versions" / "r0002_player_title.py").write_text(REVISION_0002, encoding="utf-8")
    return str(location)


async def test_a_schema_behind_head_is_refused_and_an_older_release_runs_on_a_newer_schema(
    fresh_db_url: str, tmp_path: Path, next_release: str
) -> None:
    # Today's release made the schema (0001); the next release (head 0002) refuses it.
    today = _db(fresh_db_url, tmp_path)
    await today.start()
    await today.stop()
    with pytest.raises(SchemaNotCurrentError) as refused:
        await _db(fresh_db_url, tmp_path, script_location=next_release).start()
    message = str(refused.value)
    assert "0001, behind head 0002" in message
    assert "Run `mythos db upgrade`" in message
    # The operator upgrades (expand): the next release starts, and so does today's (rolling deploy).
    engine = create_async_engine(fresh_db_url)
    try:
        _, after = await upgrade(engine, script_location=next_release)
        assert after.current == "0002"
        for location in (next_release, SCRIPT_LOCATION):
            db = _db(fresh_db_url, tmp_path, script_location=location)
            await db.start()
            await db.create_player(f"p{len(location)}", "hash", "hall")
            await db.stop()
        # Rollback of the schema, with the release that knows how.
        _, after = await downgrade(engine, "0001", script_location=next_release)
        assert after.current == "0001"
        async with engine.connect() as conn:
            columns = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("players")})
        assert "title" not in columns
    finally:
        await engine.dispose()


async def test_concurrent_first_starts_against_one_empty_database_all_succeed(
    fresh_db_url: str, tmp_path: Path
) -> None:
    """Servers starting together: one migrates under the schema lock, the others find it done."""
    servers = [_db(fresh_db_url, tmp_path) for _ in range(4)]
    results = await asyncio.gather(*(db.start() for db in servers), return_exceptions=True)
    try:
        assert [r for r in results if isinstance(r, BaseException)] == []
        # Seeded once: a second seeder would have added every NPC again or failed on the unique name.
        assert sorted(n.name for n in await servers[0].all_npcs()) == sorted(n["name"] for n in SEED_NPCS)
    finally:
        for db in servers:
            await db.stop()


# What counts as "the database is unreachable" --------------------------------------------------


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def _caused_by(cause: BaseException) -> RuntimeError:
    try:
        raise RuntimeError("driver wrapper") from cause
    except RuntimeError as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "unavailable"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), True),
        (TimeoutError(), True),
        (_caused_by(_PgError("57P03")), True),  # the database system is starting up
        (_caused_by(_PgError("57P01")), True),  # terminating connection due to administrator command
        (_caused_by(_PgError("08006")), True),  # connection failure
        (_caused_by(_PgError("23505")), False),  # unique violation: the statement's fault
        (_caused_by(_PgError("42P01")), False),  # undefined table: a schema problem, not an outage
        (OperationalError("SELECT", {}, Exception("database is locked")), True),
        (OperationalError("SELECT", {}, Exception("no such table: players")), False),
        (IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")), False),
        (ValueError("bad"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_what_counts_as_unavailable(exc: BaseException, unavailable: bool) -> None:
    assert is_unavailable(exc) is unavailable
