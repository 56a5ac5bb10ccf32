"""Persistence: players (credentials, room position, flags), aliases, and the NPC database.

SQLAlchemy 2 async; SQLite (aiosqlite) by default and PostgreSQL (asyncpg) by URL. Tables are
created on start: the schema is small and additive, so migrations would cost more than they buy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["NPC", "SEED_NPCS", "Alias", "Base", "Database", "NPCBase", "Player"]


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


def _engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # Several tasks share the file; wait for a lock instead of failing at once.
        return create_async_engine(url, connect_args={"timeout": 15})
    return create_async_engine(url, pool_pre_ping=True)


class Database:
    """Owns both engines; started and stopped by the app's lifespan."""

    def __init__(self, url: str, npc_url: str) -> None:
        self.url = url
        self.npc_url = npc_url
        self._engine: AsyncEngine | None = None
        self._npc_engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self._npc_sessions: async_sessionmaker[AsyncSession] | None = None

    async def start(self) -> None:
        """Create engines and tables, and seed the NPCs once."""
        self._engine = _engine(self.url)
        self._npc_engine = _engine(self.npc_url)
        async with self._engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        async with self._npc_engine.begin() as conn:
            await conn.run_sync(NPCBase.metadata.create_all)
        self._sessions = async_sessionmaker(self._engine, expire_on_commit=False)
        self._npc_sessions = async_sessionmaker(self._npc_engine, expire_on_commit=False)
        await self._seed_npcs()

    async def stop(self) -> None:
        for engine in (self._engine, self._npc_engine):
            if engine is not None:
                await engine.dispose()
        self._engine = self._npc_engine = None
        self._sessions = self._npc_sessions = None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        if self._sessions is None:
            raise RuntimeError("database is not started")
        async with self._sessions() as session:
            yield session

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

    async def _seed_npcs(self) -> None:
        if self._npc_sessions is None:
            raise RuntimeError("database is not started")
        async with self._npc_sessions() as session:
            existing = set((await session.scalars(select(NPC.name))).all())
            session.add_all(NPC(**npc) for npc in SEED_NPCS if npc["name"] not in existing)
            await session.commit()

    async def all_npcs(self) -> Sequence[NPC]:
        if self._npc_sessions is None:
            raise RuntimeError("database is not started")
        async with self._npc_sessions() as session:
            return (await session.scalars(select(NPC).order_by(NPC.id))).all()

    # Player queries used by auth and commands: each opens its own short session.

    async def get_player(self, player_id: int) -> Player | None:
        async with self.session() as session:
            return await session.get(Player, player_id)

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
        async with self.session() as session:
            player = await session.get(Player, player_id)
            if player is None:
                return None
            for key, value in fields.items():
                setattr(player, key, value)
            await session.commit()
            return player
