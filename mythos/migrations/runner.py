"""Run Alembic against the server's async engine, one migrator at a time.

Every schema step (the server's start-up check, ``mythos db upgrade`` / ``downgrade``) runs in
one transaction that first takes a lock, so several servers starting at once against an empty
database do not race to create the same tables: the first upgrades, the others wait and then
find the schema at head. On PostgreSQL the lock is a transaction-level advisory lock
(``pg_advisory_xact_lock``, released by the commit or by the connection dying); on an SQLite
file it is an ``flock`` on ``<file>.schema-lock`` (SQLite is one host).

The rule a server follows at start (``prepare``): an empty database is upgraded to head; a
schema at head is used; a schema behind head, or tables without a recorded revision (made by
the ``create_all`` of releases before migrations), is refused with :class:`SchemaNotCurrentError`
telling the operator to run ``mythos db upgrade``. A revision this release does not know is a
newer release's expansion (expand/contract, docs/deployment.md): the server starts and logs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import fcntl
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mythos.observability.logging import get_logger

__all__ = [
    "BASELINE",
    "LOCK_KEY",
    "SCRIPT_LOCATION",
    "SchemaNotCurrentError",
    "SchemaState",
    "SchemaStatus",
    "downgrade",
    "head_revision",
    "locked",
    "prepare",
    "schema_state",
    "upgrade",
]

log = get_logger(__name__)

SCRIPT_LOCATION = str(Path(__file__).resolve().parent)
# The revision that matches the tables older releases made with create_all.
BASELINE = "0001"
# pg_advisory_xact_lock key: the bytes of "mythos", so it is recognisable in pg_locks.
LOCK_KEY = int.from_bytes(b"mythos", "big")
# A migration that holds the lock longer than this makes the waiting servers fail, not hang.
LOCK_TIMEOUT_S = 120
VERSION_TABLE = "alembic_version"
SENTINEL_TABLE = "players"


class SchemaNotCurrentError(RuntimeError):
    """The database's schema is not the one this release needs; the message says what to run."""


class SchemaStatus(enum.StrEnum):
    EMPTY = "empty"
    AT_HEAD = "at_head"
    BEHIND = "behind"
    NEWER = "newer"
    UNVERSIONED = "unversioned"


@dataclass(frozen=True, slots=True)
class SchemaState:
    current: str | None
    head: str
    status: SchemaStatus

    def describe(self) -> str:
        where = self.current or "none"
        return {
            SchemaStatus.EMPTY: f"empty (no tables); head is {self.head}",
            SchemaStatus.AT_HEAD: f"{where} (head)",
            SchemaStatus.BEHIND: f"{where}, behind head {self.head}",
            SchemaStatus.NEWER: f"{where}, unknown to this release (head {self.head}): a newer release migrated it",
            SchemaStatus.UNVERSIONED: "tables without a recorded revision (made before migrations); "
                                      f"head is {self.head}",
        }[self.status]


@functools.lru_cache(maxsize=8)
def _script(script_location: str) -> ScriptDirectory:
    """Parsed once per process: reading the revision files is most of a no-op check's cost."""
    return ScriptDirectory.from_config(_config(script_location))


def _config(script_location: str, connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", script_location)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision(script_location: str = SCRIPT_LOCATION) -> str:
    head = _script(script_location).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations in {script_location}")
    return head


def _state(conn: Connection, script_location: str) -> SchemaState:
    head = head_revision(script_location)
    current = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
    if current is None:
        status = SchemaStatus.UNVERSIONED if inspect(conn).has_table(SENTINEL_TABLE) else SchemaStatus.EMPTY
    elif current == head:
        status = SchemaStatus.AT_HEAD
    else:
        try:
            known = _script(script_location).get_revision(current) is not None
        except CommandError:
            known = False
        status = SchemaStatus.BEHIND if known else SchemaStatus.NEWER
    return SchemaState(current, head, status)


# Locking ------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def locked(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction that holds the schema lock; committed on a clean exit."""
    url = engine.url
    lock_file: IO[bytes] | None = None
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        lock_file = await asyncio.to_thread(_flock, Path(f"{url.database}.schema-lock"))
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_S}s'"))
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            yield conn
    finally:
        if lock_file is not None:
            lock_file.close()  # releases the flock


def _flock(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("ab")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    except BaseException:
        handle.close()
        raise
    return handle


async def _under_lock(engine: AsyncEngine, step: Callable[[Connection], Any]) -> Any:
    async with locked(engine) as conn:
        return await conn.run_sync(step)


# What the server and the CLI call ------------------------------------------------------------


async def schema_state(engine: AsyncEngine, script_location: str = SCRIPT_LOCATION) -> SchemaState:
    async with engine.connect() as conn:
        return await conn.run_sync(_state, script_location)


async def prepare(engine: AsyncEngine, script_location: str = SCRIPT_LOCATION) -> SchemaState:
    """The server's start-up rule (module docstring): upgrade an empty database, refuse an old one."""

    def step(conn: Connection) -> SchemaState:
        state = _state(conn, script_location)
        if state.status is SchemaStatus.EMPTY:
            command.upgrade(_config(script_location, conn), "head")
            log.info("schema_created", revision=state.head)
            return _state(conn, script_location)
        if state.status is SchemaStatus.NEWER:
            log.warning("schema_newer_than_release", current=state.current, head=state.head)
        elif state.status is not SchemaStatus.AT_HEAD:
            raise SchemaNotCurrentError(
                f"The player database schema is {state.describe()}: this release needs revision "
                f"{state.head}. Run `mythos db upgrade` with this release (docs/deployment.md, "
                "'Database and migrations'), then start the server again."
            )
        return state

    result: SchemaState = await _under_lock(engine, step)
    return result


async def upgrade(engine: AsyncEngine, revision: str = "head",
                  script_location: str = SCRIPT_LOCATION) -> tuple[SchemaState, SchemaState]:
    """Upgrade to ``revision``; a database made by ``create_all`` is first stamped as BASELINE."""

    def step(conn: Connection) -> tuple[SchemaState, SchemaState]:
        before = _state(conn, script_location)
        cfg = _config(script_location, conn)
        if before.status is SchemaStatus.UNVERSIONED:
            command.stamp(cfg, BASELINE)
            log.info("schema_stamped", revision=BASELINE, reason="tables made before migrations")
        command.upgrade(cfg, revision)
        return before, _state(conn, script_location)

    result: tuple[SchemaState, SchemaState] = await _under_lock(engine, step)
    return result


async def downgrade(engine: AsyncEngine, revision: str,
                    script_location: str = SCRIPT_LOCATION) -> tuple[SchemaState, SchemaState]:
    """Downgrade to ``revision`` (``base`` drops every table the migrations made)."""

    def step(conn: Connection) -> tuple[SchemaState, SchemaState]:
        before = _state(conn, script_location)
        command.downgrade(_config(script_location, conn), revision)
        return before, _state(conn, script_location)

    result: tuple[SchemaState, SchemaState] = await _under_lock(engine, step)
    return result
