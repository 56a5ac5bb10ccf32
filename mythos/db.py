"""Persistence: players (credentials, room position, flags), aliases, and the NPC database.

SQLAlchemy 2 async; SQLite (aiosqlite) by default and PostgreSQL (asyncpg) by URL. The player
database's schema is owned by Alembic (``mythos.migrations``): several servers share it, and a
release that adds a column must be rolled out and back while they run (docs/deployment.md).
``start()`` creates the schema in an empty database and refuses one that is behind
(``SchemaNotCurrentError``: run ``mythos db upgrade``). The NPC database keeps ``create_all``:
one table of reference data seeded from ``SEED_NPCS`` at every start, which players never write;
it moves to Alembic the day that table changes shape.

A database that cannot be reached (down, restarting, connection lost) surfaces as
``DatabaseUnavailableError`` from every query, so callers answer "try again shortly" instead of
failing with a driver's exception; a refused write changed nothing.

Player rows read by commands may be cached (``cache_players``, on for a server that is the only
writer of its players' rows: not with CLUSTER_SESSIONS, where other servers write them too).
Reading the row through the ORM was most of a command's CPU (bench/server_cost.py). A fresh
read (``get_player(..., fresh=True)``: every authentication, so every new connection) refreshes
the entry, and every write through this object drops it; a read that overlapped a write is not
kept, so the cache never holds a row older than the last write this server made.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool

from mythos.migrations.runner import SCRIPT_LOCATION, SchemaNotCurrentError, locked, prepare
from mythos.observability.logging import get_logger

__all__ = [
    "NPC",
    "RETRY_AFTER_S",
    "SEED_NPCS",
    "Alias",
    "Base",
    "Database",
    "DatabaseUnavailableError",
    "NPCBase",
    "Player",
    "SchemaNotCurrentError",
    "is_unavailable",
]

log = get_logger(__name__)

# What a refused caller is told to wait: a database restart takes a few seconds.
RETRY_AFTER_S = 5
# A dead host must not hold a command for asyncpg's default 60 s connect timeout.
CONNECT_TIMEOUT_S = 5.0
# Nor a stopped (SIGSTOP, partitioned) server hold it forever.
COMMAND_TIMEOUT_S = 10.0
# Player rows kept by the command cache at most (least recently used dropped first).
PLAYER_CACHE_MAX = 10_000
# SQLSTATE classes that mean "the server is not there" rather than "your query is wrong":
# 08 connection exception, 57P01-57P03 admin/crash shutdown and "the database system is starting up".
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database file", "disk I/O error")


class DatabaseUnavailableError(RuntimeError):
    """The database cannot be reached now; the caller should try again in ``retry_after`` seconds."""

    message = "The world's records are unreachable for a moment; try again in a few seconds."

    def __init__(self, cause: BaseException | None = None, retry_after: int = RETRY_AFTER_S) -> None:
        super().__init__(self.message if cause is None else f"{self.message} ({type(cause).__name__})")
        self.retry_after = retry_after


def is_unavailable(exc: BaseException) -> bool:
    """True for errors that mean the database is unreachable, not that the statement is wrong."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DatabaseUnavailableError | OSError | TimeoutError | PoolTimeoutError):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        # SQLite says "busy" or "cannot open" with OperationalError, as it does for a syntax error.
        if isinstance(current, OperationalError) and any(m in str(current) for m in _SQLITE_UNAVAILABLE):
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
            return True
        # asyncpg's "connection is closed" / "connection was closed in the middle of operation".
        if type(current).__name__ in ("ConnectionDoesNotExistError", "InterfaceError") and "closed" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Metadata of the player database."""


class NPCBase(DeclarativeBase):
    """Metadata of the NPC database (a separate URL, so it can live elsewhere)."""


class Player(Base):
    """A user account and its in-game state; one row because every user is exactly one player."""

    __tablename__ = "players"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(32))
    # Lower-cased name: uniqueness and lookups ignore case so "Alice" cannot shadow "alice".
    username_key: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    room_id: Mapped[str] = mapped_column(String(64))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_muted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Alias(Base):
    """A player's command alias; expansion rules live in the command-security package."""

    __tablename__ = "aliases"
    __table_args__ = (UniqueConstraint("player_id", "name", name="uq_alias_player_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    player_id: Mapped[int] = mapped_column(ForeignKey("players.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    command: Mapped[str] = mapped_column(Text)


class NPC(NPCBase):
    __tablename__ = "npcs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    room_id: Mapped[str] = mapped_column(String(64), index=True)
    description: Mapped[str] = mapped_column(Text)


SEED_NPCS: tuple[dict[str, str], ...] = (
    {
        "name": "Librarian Armitage",
        "room_id": "orne_library",
        "description": "An old man in a rumpled tweed coat who knows which books must never be opened.",
    },
    {
        "name": "Zadok Allen",
        "room_id": "river_street",
        "description": "A toothless old drunk from Innsmouth, muttering about the Devil Reef.",
    },
    {
        "name": "Brown Jenkin",
        "room_id": "witch_attic",
        "description": "A rat with a tiny, bearded human face. It titters.",
    },
)


def _engine(url: str, *, schema_steps: bool = False) -> AsyncEngine:
    """The serving engine, or (``schema_steps``) a poolless one for the start-up schema check,
    which may wait on the schema lock longer than a command may take (runner.LOCK_TIMEOUT_S)."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # Several tasks share the file; wait for a lock instead of failing at once.
        return create_async_engine(url, connect_args={"timeout": 15})
    if schema_steps:
        return create_async_engine(url, poolclass=NullPool, connect_args={"timeout": CONNECT_TIMEOUT_S})
    # pre-ping: connections pooled before a database restart are found dead at checkout and replaced.
    return create_async_engine(
        url, pool_pre_ping=True,
        connect_args={"timeout": CONNECT_TIMEOUT_S, "command_timeout": COMMAND_TIMEOUT_S},
    )


async def _prepare_schema(url: str, script_location: str, seed: bool) -> None:
    """Player schema by the start-up rule (``seed`` False), or the NPC table made and seeded."""
    engine = _engine(url, schema_steps=True)
    try:
        if not seed:
            await prepare(engine, script_location)
            return
        async with locked(engine) as conn:
            await conn.run_sync(NPCBase.metadata.create_all)
            existing = set((await conn.scalars(select(NPC.name))).all())
            missing = [npc for npc in SEED_NPCS if npc["name"] not in existing]
            if missing:
                await conn.execute(insert(NPC), missing)
    finally:
        await engine.dispose()


class Database:
    """Owns both engines; started and stopped by the app's lifespan."""

    def __init__(self, url: str, npc_url: str, *, script_location: str = SCRIPT_LOCATION,
                 cache_players: bool = False) -> None:
        self.url = url
        self.npc_url = npc_url
        self.script_location = script_location
        self.cache_players = cache_players
        self._players: OrderedDict[int, Player] = OrderedDict()
        # Bumped before and after every player write: a read that saw it change is not cached.
        self._player_writes = 0
        self._engine: AsyncEngine | None = None
        self._npc_engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self._npc_sessions: async_sessionmaker[AsyncSession] | None = None

    async def start(self) -> None:
        """Create engines, bring an empty player database to head (or refuse an old one), seed NPCs.

        Both schema steps hold the schema lock (``mythos.migrations.runner.locked``), so servers
        starting together against one empty database neither race nor seed twice.
        """
        self._engine = _engine(self.url)
        self._npc_engine = _engine(self.npc_url)
        try:
            await _prepare_schema(self.url, self.script_location, seed=False)
            await _prepare_schema(self.npc_url, self.script_location, seed=True)
        except SchemaNotCurrentError as exc:
            log.error("database_schema_not_current", detail=str(exc))
            await self.stop()
            raise
        except BaseException:
            await self.stop()
            raise
        self._sessions = async_sessionmaker(self._engine, expire_on_commit=False)
        self._npc_sessions = async_sessionmaker(self._npc_engine, expire_on_commit=False)

    async def stop(self) -> None:
        for engine in (self._engine, self._npc_engine):
            if engine is not None:
                await engine.dispose()
        self._engine = self._npc_engine = None
        self._sessions = self._npc_sessions = None
        self._players.clear()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A short session; a lost or refused connection raises ``DatabaseUnavailableError``."""
        if self._sessions is None:
            raise RuntimeError("database is not started")
        try:
            async with self._sessions() as session:
                yield session
        except Exception as exc:
            if is_unavailable(exc) and not isinstance(exc, DatabaseUnavailableError):
                raise DatabaseUnavailableError(exc) from exc
            raise

    async def ping(self) -> bool:
        """True when the player database answers a trivial query."""
        if self._engine is None:
            return False
        try:
            async with self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:  # any driver error means "down" for the health probe
            return False
        return True

    async def all_npcs(self) -> Sequence[NPC]:
        if self._npc_sessions is None:
            raise RuntimeError("database is not started")
        try:
            async with self._npc_sessions() as session:
                return (await session.scalars(select(NPC).order_by(NPC.id))).all()
        except Exception as exc:
            if is_unavailable(exc):
                raise DatabaseUnavailableError(exc) from exc
            raise

    # Player queries used by auth and commands: each opens its own short session.

    async def get_player(self, player_id: int, *, fresh: bool = False) -> Player | None:
        """The player's row; from the cache when ``cache_players`` and not ``fresh`` (see the
        module docstring). A cached row is shared: callers read it, never change it."""
        if self.cache_players and not fresh:
            cached = self._players.get(player_id)
            if cached is not None:
                self._players.move_to_end(player_id)
                return cached
        writes = self._player_writes
        async with self.session() as session:
            player = await session.get(Player, player_id)
        if self.cache_players:
            if player is not None and writes == self._player_writes:
                self._players[player_id] = player
                self._players.move_to_end(player_id)
                if len(self._players) > PLAYER_CACHE_MAX:
                    self._players.popitem(last=False)
            elif player is None:
                self._players.pop(player_id, None)
        return player

    def _player_written(self, player_id: int) -> None:
        self._player_writes += 1
        self._players.pop(player_id, None)

    async def get_player_by_name(self, username: str) -> Player | None:
        async with self.session() as session:
            return await session.scalar(select(Player).where(Player.username_key == username.lower()))

    async def create_player(
        self, username: str, password_hash: str, room_id: str, *, is_admin: bool = False
    ) -> Player:
        async with self.session() as session:
            player = Player(
                username=username,
                username_key=username.lower(),
                password_hash=password_hash,
                room_id=room_id,
                is_admin=is_admin,
                is_muted=False,
            )
            session.add(player)
            await session.commit()
            return player

    async def update_player(self, player_id: int, **fields: Any) -> Player | None:
        self._player_written(player_id)
        try:
            async with self.session() as session:
                player = await session.get(Player, player_id)
                if player is None:
                    return None
                for key, value in fields.items():
                    setattr(player, key, value)
                await session.commit()
                return player
        finally:
            # Also when the write failed: whether it committed is unknown, so the row is read again.
            self._player_written(player_id)
