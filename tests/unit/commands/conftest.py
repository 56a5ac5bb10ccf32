"""Command tests run against real services (SQLite in tmp_path; NATS as each test needs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from mythos.app import create_app
from mythos.commands.context import Actor, CommandResult
from mythos.commands.pipeline import process_command_unified
from mythos.config import AppConfig
from mythos.realtime.connections import Connection
from mythos.realtime.events import EventEnvelope
from mythos.services import AppServices
from tests.factories import make_player


@dataclass
class Seat:
    """A player with a live connection whose queue the test can read."""

    services: AppServices
    player_id: int
    name: str
    conn: Connection

    async def actor(self) -> Actor:
        player = await self.services.db.get_player(self.player_id)
        assert player is not None
        return Actor.from_player(player)

    async def run(self, command: str) -> CommandResult:
        return await process_command_unified(command, await self.actor(), self.services.game, source="test")

    def drain(self) -> list[EventEnvelope]:
        out = []
        while not self.conn.queue.empty():
            item = self.conn.queue.get_nowait()
            if item is not None:
                out.append(item)
        return out

    async def next_event(self, event_type: str, timeout: float = 5.0) -> EventEnvelope:
        async def _find() -> EventEnvelope:
            while True:
                item = await self.conn.queue.get()
                if item is not None and item.event_type == event_type:
                    return item

        return await asyncio.wait_for(_find(), timeout)


async def seat(services: AppServices, name: str, *, admin: bool = False, room_id: str | None = None) -> Seat:
    player = await make_player(services.db, name, room_id or services.world.start_room_id, is_admin=admin)
    conn = services.connections.connect(player.id, name, player.room_id, f"s-{name}", "test")
    return Seat(services, player.id, name, conn)


async def _started(config: AppConfig) -> AsyncIterator[AppServices]:
    app = create_app(config)
    async with app.router.lifespan_context(app):
        yield app.state.services


@pytest.fixture
async def game(config: AppConfig) -> AsyncIterator[AppServices]:
    """Services with NATS disabled."""
    async for services in _started(config):
        yield services


@pytest.fixture
async def nats_game(nats_config: AppConfig) -> AsyncIterator[AppServices]:
    """Services connected to the session's real nats-server."""
    async for services in _started(nats_config):
        yield services
