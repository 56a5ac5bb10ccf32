"""The composition root: builds every service from one config, starts and stops them in order."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from mythos.auth import MAX_CONCURRENT_HASHES, AuthService, InviteStore, TokenService
from mythos.commands.aliases import AliasStorage
from mythos.commands.audit import AuditLogger
from mythos.commands.context import GameServices
from mythos.commands.security import CommandSecurity
from mythos.commands.security_service import CommandSecurityService
from mythos.commands.security_setup import build_command_security
from mythos.config import AppConfig
from mythos.db import Database
from mythos.login_throttle import HashGate, LoginThrottle
from mythos.observability.logging import get_logger
from mythos.observability.metrics import MetricsCollector
from mythos.realtime.alias_invalidation import AliasInvalidation
from mythos.realtime.broadcast import Broadcaster
from mythos.realtime.cluster_link import ClusterLink
from mythos.realtime.connections import ConnectionManager
from mythos.realtime.dead_letter_queue import DeadLetterQueue
from mythos.realtime.dlq_admin import dlq_dir
from mythos.realtime.nats_service import NATSService
from mythos.realtime.presence import Presence
from mythos.realtime.rate_handoff import RateHandoff
from mythos.realtime.session_registry import SessionRegistry
from mythos.world import World, load_world

__all__ = ["AppServices", "ClusterServices", "build_services"]

log = get_logger(__name__)


@dataclass
class ClusterServices:
    """Several servers as one world (CLUSTER_SESSIONS): the parts that ride the NATS link."""

    registry: SessionRegistry
    presence: Presence
    aliases: AliasInvalidation
    # The rate window follows the session; None when the server runs another CommandSecurity.
    rate: RateHandoff | None = None

    async def start(self) -> None:
        if self.rate is not None:
            await self.rate.start()
        await self.registry.start()
        await self.presence.start()
        await self.aliases.start()

    async def stop(self) -> None:
        await self.aliases.stop()
        await self.presence.stop()
        await self.registry.stop()
        if self.rate is not None:
            await self.rate.stop()


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
    # One collector per app (no global registry): NATS link, breaker, DLQ and publish latency.
    metrics: MetricsCollector = field(default_factory=MetricsCollector)
    # The security audit log (failed logins are written here too); None only in hand-built services.
    audit: AuditLogger | None = None
    # None on a single server (CLUSTER_SESSIONS false): sessions, aliases and `who` stay local.
    cluster: ClusterServices | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _drained: bool = False

    @property
    def sessions(self) -> SessionRegistry | None:
        """The cluster-wide session registry, or None on a single server."""
        return self.cluster.registry if self.cluster is not None else None

    async def start(self) -> None:
        await self.db.start()
        await self.auth.ensure_admin(self.config.security.admin_password.get_secret_value())
        npcs: dict[str, list[str]] = {}
        for npc in await self.db.all_npcs():
            npcs.setdefault(npc.room_id, []).append(npc.name)
        self.broadcaster.npcs_by_room = npcs
        await self.nats.start()
        if self.cluster is not None:
            await self.cluster.start()
        self._tasks.append(asyncio.get_running_loop().create_task(self._heartbeats()))
        log.info("services_started", rooms=len(self.world), nats=self.nats.state)

    async def drain(self) -> None:
        """The first half of a graceful stop, before the transports are torn down: refuse new
        commands, let those in flight finish and their replies (and their chat publishes) go out,
        within SHUTDOWN_DRAIN_SECONDS, then close every connection (WebSockets with 1012).

        The server runs it before uvicorn closes the sockets (`mythos.app.DrainingServer`);
        `stop()` runs it too, for a host that only has the lifespan. Runs once.
        """
        if self._drained:
            return
        self._drained = True
        in_flight = self.connections.commands_in_flight
        result = await self.connections.drain(self.config.server.shutdown_drain_seconds)
        fields = {"in_flight": in_flight, "unfinished": result.unfinished_commands,
                  "open_transports": result.open_transports, "seconds": round(result.seconds, 3)}
        if result.unfinished_commands or result.open_transports:
            log.warning("shutdown_drain_incomplete", **fields)
        else:
            log.info("shutdown_drained", **fields)

    async def stop(self) -> None:
        await self.drain()  # before NATS and the database go: commands in flight still need them
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.cluster is not None:
            await self.cluster.stop()  # while NATS is still up: presence deletes its key
        await self.nats.stop()
        await self.db.stop()
        if self.audit is not None:
            self.audit.close()
        log.info("services_stopped")

    async def _heartbeats(self) -> None:
        """One timer for all connections: a heartbeat on each every heartbeat_interval."""
        interval = self.config.server.heartbeat_interval
        while True:
            await asyncio.sleep(interval)
            self.connections.heartbeat()


def build_services(config: AppConfig, security: CommandSecurity | None = None) -> AppServices:
    """Wire the services; nothing connects until `start()`."""
    world = load_world(config.server.world_file)
    # Several servers (CLUSTER_SESSIONS) write one player's row: there, commands read it every time.
    db = Database(config.database.url, config.database.npc_url, cache_players=not config.cluster.sessions)
    connections = ConnectionManager(buffer_size=config.server.event_buffer_size)
    metrics = MetricsCollector()
    # Unique per process on a host and stable across its restarts: names its durable consumer,
    # and the server in the session registry and presence.
    instance_id = config.server.instance_id or f"{socket.gethostname()}-{config.server.port}"
    nats = NATSService(
        config.nats,
        dlq=DeadLetterQueue(dlq_dir(config)) if config.nats.enabled else None,
        metrics=metrics,
        instance_id=instance_id,
    )
    broadcaster = Broadcaster(connections, nats, world)
    nats.handler = broadcaster.deliver
    tokens = TokenService(
        config.security.jwt_secret.get_secret_value(), timedelta(minutes=config.security.token_ttl_minutes)
    )
    # The real command security unless the caller passes another (tests of the game alone).
    kit = build_command_security(config.security, config.logging.log_base, db, security)
    auth = AuthService(
        db,
        InviteStore(config.security.invite_codes_file),
        tokens,
        world.start_room_id,
        throttle=LoginThrottle.from_settings(config.security),
        hash_gate=HashGate(
            MAX_CONCURRENT_HASHES,
            max_waiting=config.security.login_hash_queue_max,
            max_suspect_waiting=config.security.login_suspect_queue_max,
        ),
        audit=kit.audit,
    )
    connections.on_offline = kit.player_offline
    game = GameServices(world, db, connections, broadcaster, kit.security, kit.alias_commands, refusals=metrics)
    cluster = None
    if config.cluster.sessions:
        cluster = _build_cluster(config, instance_id, nats, connections, metrics, kit.aliases)
        if isinstance(kit.security, CommandSecurityService):
            rate = RateHandoff(instance_id, cluster.registry.link, kit.security.limiter, connections.name_of,
                               held_revision=cluster.registry.held_revision)
            cluster.rate = cluster.registry.handoff = kit.security.handoff = rate
            connections.on_offline = _both(kit.player_offline, rate.went_offline)
        kit.alias_commands.on_change = cluster.aliases.publish
    return AppServices(
        config,
        world,
        db,
        connections,
        nats,
        broadcaster,
        auth,
        kit.security,
        game,
        metrics,
        audit=kit.audit,
        cluster=cluster,
    )


def _both(first: Callable[[int, str], None], second: Callable[[int, str], None]) -> Callable[[int, str], None]:
    def both(player_id: int, name: str) -> None:
        first(player_id, name)
        second(player_id, name)

    return both


def _build_cluster(
    config: AppConfig,
    instance_id: str,
    nats: NATSService,
    connections: ConnectionManager,
    metrics: MetricsCollector,
    alias_cache: AliasStorage,
) -> ClusterServices:
    """The registry, presence and alias invalidation on the chat link (config demands JetStream)."""
    if nats.reliable is None:
        raise ValueError("CLUSTER_SESSIONS needs the JetStream NATS link")
    link = ClusterLink(nats.reliable.link)
    # The KV buckets are replicated like the chat stream (NATS_STREAM_REPLICAS).
    replicas = config.nats.stream_replicas
    registry = SessionRegistry(instance_id, link, connections, metrics, config.cluster, replicas=replicas)
    presence = Presence(
        instance_id, link, connections, metrics, config.cluster, owner_of=registry.owner_of, replicas=replicas
    )
    connections.session_holder = registry.holds
    connections.remote_roster = presence.remote_players
    return ClusterServices(registry, presence, AliasInvalidation(instance_id, link, alias_cache, metrics))
