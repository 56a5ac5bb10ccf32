"""The composition root: builds every service from one config, starts and stops them in order."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from mythos.commands.context import GameServices
from mythos.commands.security import CommandSecurity, PermissiveSecurity
from mythos.config import AppConfig
from mythos.db import Database
from mythos.observability.logging import get_logger
from mythos.realtime.broadcast import Broadcaster
from mythos.realtime.connections import ConnectionManager
from mythos.realtime.nats_service import NATSService
from mythos.world import World, load_world

if TYPE_CHECKING:
    from mythos.auth import AuthService

__all__ = ["AppServices", "build_services"]

log = get_logger(__name__)


@dataclass
class AppServices:
    """Every long-lived object of one server; route handlers reach it through dependencies."""

    config: AppConfig
    world: World
    db: Database
    connections: ConnectionManager
    nats: NATSService
    broadcaster: Broadcaster
    auth: AuthService
    security: CommandSecurity
    game: GameServices
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        await self.db.start()
        await self.auth.ensure_admin(self.config.security.admin_password.get_secret_value())
        npcs: dict[str, list[str]] = {}
        for npc in await self.db.all_npcs():
            npcs.setdefault(npc.room_id, []).append(npc.name)
        self.broadcaster.npcs_by_room = npcs
        await self.nats.start()
        self._tasks.append(asyncio.get_running_loop().create_task(self._heartbeats()))
        log.info("services_started", rooms=len(self.world), nats=self.nats.state)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self.connections.close_all("shutdown")
        await self.nats.stop()
        await self.db.stop()
        log.info("services_stopped")

    async def _heartbeats(self) -> None:
        """One timer for all connections: a heartbeat on each every heartbeat_interval."""
        interval = self.config.server.heartbeat_interval
        while True:
            await asyncio.sleep(interval)
            self.connections.heartbeat()


def build_services(config: AppConfig, security: CommandSecurity | None = None) -> AppServices:
    """Wire the services; nothing connects until `start()`."""
    # Imported here: mythos.auth's dependencies refer back to AppServices.
    from mythos.auth import AuthService, InviteStore, TokenService

    world = load_world(config.server.world_file)
    db = Database(config.database.url, config.database.npc_url)
    connections = ConnectionManager(buffer_size=config.server.event_buffer_size)
    nats = NATSService(config.nats)
    broadcaster = Broadcaster(connections, nats, world)
    nats.handler = broadcaster.deliver
    tokens = TokenService(
        config.security.jwt_secret.get_secret_value(), timedelta(minutes=config.security.token_ttl_minutes)
    )
    auth = AuthService(db, InviteStore(config.security.invite_codes_file), tokens, world.start_room_id)
    security = security or PermissiveSecurity()
    game = GameServices(world, db, connections, broadcaster, security)
    return AppServices(config, world, db, connections, nats, broadcaster, auth, security, game)
