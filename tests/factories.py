"""Test factories: configs, rooms, worlds, actors, and account helpers. One place, so tests
build objects the same way."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from mythos.commands.context import Actor
from mythos.config import AppConfig, load_config
from mythos.db import Database, Player
from mythos.local_nats import free_port
from mythos.world import Room, World

ADMIN_PASSWORD = "Elder-Sign-Admin-7f3q"
JWT_SECRET = "t3st-" + "k" * 40
_names = itertools.count(1)


def make_config(tmp_path: Path, **overrides: dict[str, Any]) -> AppConfig:
    """A valid config with everything under `tmp_path`; `overrides` map section -> fields.

    NATS is disabled unless a test passes `nats={"enabled": True, "url": ...}`.
    """
    base: dict[str, dict[str, Any]] = {
        "server": {
            "host": "127.0.0.1",
            "port": free_port(),
            "heartbeat_interval": 0.5,
            "event_buffer_size": 50,
            "client_dist_dir": tmp_path / "client-dist",
            "data_dir": tmp_path / "data",
        },
        "database": {
            "url": sqlite_url(tmp_path / "mythos.db"),
            "npc_url": sqlite_url(tmp_path / "npcs.db"),
        },
        "nats": {
            "enabled": False,
            "url": "nats://127.0.0.1:4222",
            "connect_timeout": 2.0,
            "reconnect_time_wait": 0.2,
        },
        "security": {
            "admin_password": ADMIN_PASSWORD,
            "jwt_secret": JWT_SECRET,
            "invite_codes_file": tmp_path / "invites.json",
        },
        "logging": {"environment": "unit_test", "log_base": tmp_path / "logs", "level": "WARNING"},
    }
    for section, values in overrides.items():
        base.setdefault(section, {}).update(values)
    # env_file="" reads no env file, so a developer's .env.local never leaks into a test.
    return load_config(env_file="", **base)


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def database_section(db_url: str, tmp_path: Path) -> dict[str, Any]:
    """``make_config``'s ``database`` override for a player database URL from the ``db_url`` fixture.

    On PostgreSQL the NPC table shares the player database (as a deployment may); on SQLite it
    keeps its own file beside the test's other files.
    """
    npc_url = sqlite_url(tmp_path / "npcs.db") if db_url.startswith("sqlite") else db_url
    return {"url": db_url, "npc_url": npc_url}


def write_behind(db_url: str, sql: str, rows: list[dict[str, Any]]) -> None:
    """Run ``sql`` once per row straight in the database, behind a running server's back.

    Its own engine on its own loop in a worker thread, so a sync helper works from async tests.
    """

    async def run() -> None:
        engine = create_async_engine(db_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(sql), rows)
        finally:
            await engine.dispose()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


def make_room(room_id: str = "hall", name: str | None = None, **exits: str) -> Room:
    return Room(room_id, name or room_id.replace("_", " ").title(), f"The {room_id} is dark.", exits)


def make_world(*rooms: Room, start: str | None = None) -> World:
    """Two linked rooms unless rooms are given."""
    if not rooms:
        rooms = (make_room("hall", north="study"), make_room("study", south="hall"))
    return World({r.id: r for r in rooms}, start or rooms[0].id)


def make_actor(
    player_id: int = 1,
    name: str | None = None,
    room_id: str = "hall",
    *,
    is_admin: bool = False,
    is_muted: bool = False,
) -> Actor:
    return Actor(player_id, name or f"Player{player_id}", room_id, is_admin, is_muted)


async def make_player(
    db: Database, name: str | None = None, room_id: str = "arkham_square", *, is_admin: bool = False
) -> Player:
    """A stored player (no usable password: for tests that never log in)."""
    return await db.create_player(name or unique_name("p"), "not-a-hash", room_id, is_admin=is_admin)


def unique_name(prefix: str = "inv") -> str:
    return f"{prefix}{next(_names)}{secrets.token_hex(2)}"


PASSWORD = "Necronomicon-1928"
