"""Who is online on the other servers: each server refreshes its players in a NATS KV bucket.

One key per server (its instance id), whose value lists that server's online players with their
room. A server writes its key when its list changes and at least every `refresh` seconds; the
bucket's max age removes a value no one refreshes. Every server watches the bucket and forgets
another server's list `ttl` seconds after that list was written, so the players of a server that
died (or lost NATS) leave `who` within the TTL; a server that stops cleanly deletes its key.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import nats.errors
from nats.aio.client import Client as NATS
from nats.js.api import KeyValueConfig
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from mythos.observability.logging import get_logger
from mythos.realtime.cluster_link import ClusterLink, bind_bucket, follow_link, kv_key, stop_follower
from mythos.realtime.connections import PlayerChannel, RosterEntry

__all__ = ["PRESENCE_BUCKET", "Presence", "ServerPlayers"]

log = get_logger(__name__)

PRESENCE_BUCKET = "mythos_presence"
TICK_S = 0.25
"""How often a server compares its player list with the one it last wrote."""


class _Metrics(Protocol):
    def set_presence_servers(self, count: int) -> None: ...


class _Connections(Protocol):
    def online_players(self) -> list[PlayerChannel]: ...


class _Settings(Protocol):
    """The part of ClusterConfig used here (read-only)."""

    @property
    def presence_refresh_seconds(self) -> float: ...

    @property
    def presence_ttl_seconds(self) -> float: ...

    @property
    def registry_timeout_seconds(self) -> float: ...


@dataclass(frozen=True, slots=True)
class ServerPlayers:
    """Another server's last list and when it stops counting (monotonic seconds)."""

    server: str
    players: tuple[RosterEntry, ...]
    expires_at: float


def _snapshot(connections: _Connections) -> tuple[tuple[int, str, str], ...]:
    return tuple(sorted((c.player_id, c.name, c.room_id) for c in connections.online_players()))


class Presence:
    """This server's presence writer and the other servers' presence reader."""

    def __init__(
        self,
        server: str,
        link: ClusterLink,
        connections: _Connections,
        metrics: _Metrics,
        settings: _Settings,
        *,
        owner_of: Callable[[int], str | None] | None = None,
        replicas: int = 1,
        bucket: str = PRESENCE_BUCKET,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.server = server
        self.key = kv_key(server)
        self.link = link
        self.connections = connections
        self.metrics = metrics
        self.refresh = settings.presence_refresh_seconds
        self.ttl = settings.presence_ttl_seconds
        self.timeout = settings.registry_timeout_seconds
        # The session registry's newest owner of a player: a list that still names a player who
        # has moved to another server is stale for that player.
        self.owner_of = owner_of
        self.clock = clock
        self.bucket_config = KeyValueConfig(bucket=bucket, history=1, ttl=self.ttl, replicas=replicas)
        self._others: dict[str, ServerPlayers] = {}
        self._kv: KeyValue | None = None
        self._task: asyncio.Task[None] | None = None
        metrics.set_presence_servers(1)

    # -- reading ---------------------------------------------------------------------------------

    def remote_players(self) -> list[RosterEntry]:
        """Players the other live servers report, each once."""
        now = self.clock()
        for server in [s for s, entry in self._others.items() if entry.expires_at <= now]:
            del self._others[server]
        self.metrics.set_presence_servers(1 + len(self._others))
        chosen: dict[int, RosterEntry] = {}
        for entry in sorted(self._others.values(), key=lambda e: e.expires_at):
            for player in entry.players:
                owner = self.owner_of(player.player_id) if self.owner_of is not None else None
                if owner is not None and owner != entry.server:
                    continue
                chosen[player.player_id] = player  # the freshest list wins a tie
        return list(chosen.values())

    def on_entry(self, entry: KeyValue.Entry, now_wall: float | None = None) -> None:
        """Apply one watched value (public for the unit tests of expiry)."""
        if entry.key == self.key:
            return
        if entry.operation in (KV_DEL, KV_PURGE) or not entry.value:
            self._others.pop(entry.key, None)
            return
        try:
            body = json.loads(entry.value)
            server = str(body["server"])
            players = tuple(RosterEntry(int(p[0]), str(p[1]), str(p[2]), server) for p in body["players"])
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            log.warning("presence_bad_entry", key=entry.key, error=repr(exc))
            return
        # Age from the stream's own timestamp: a list replayed by a fresh watch must not live a
        # whole TTL again. Clamped, so a skewed clock can neither keep it nor drop it at once.
        age = 0.0
        created = entry.created
        if isinstance(created, datetime):
            wall = time.time() if now_wall is None else now_wall
            age = min(max(0.0, wall - created.timestamp()), self.ttl)
        self._others[entry.key] = ServerPlayers(server, players, self.clock() + self.ttl - age)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            follow_link(self.link, "presence", self._follow, self._lost), name="presence"
        )

    async def stop(self) -> None:
        """Stop refreshing and delete this server's key, so its players leave `who` at once."""
        await stop_follower(self._task)
        self._task = None
        kv = self._kv
        self._lost()
        if kv is not None and self.link.connected:
            with suppress(Exception):
                await asyncio.wait_for(kv.delete(self.key), self.timeout)

    def _lost(self) -> None:
        self._kv = None

    async def _follow(self, generation: int, nc: NATS) -> None:
        kv = await bind_bucket(nc.jetstream(timeout=self.timeout), self.bucket_config)
        watcher = await kv.watchall()
        self._kv = kv
        written: tuple[tuple[int, str, str], ...] | None = None
        due = look = 0.0
        try:
            while self.link.current(generation):
                now = self.clock()
                if now >= look:  # not once per watched entry: many servers write often
                    look = now + TICK_S
                    players = _snapshot(self.connections)
                    if players != written or now >= due:
                        await self._write(kv, players)
                        written, due = players, now + self.refresh
                try:
                    entry = await watcher.updates(timeout=TICK_S)
                except nats.errors.TimeoutError:
                    continue
                if entry is None:
                    continue
                if not isinstance(entry, KeyValue.Entry):
                    return
                self.on_entry(entry)
        finally:
            with suppress(Exception):
                await asyncio.wait_for(watcher.stop(), self.timeout)

    async def _write(self, kv: KeyValue, players: tuple[tuple[int, str, str], ...]) -> None:
        body = {"server": self.server, "at": time.time(), "players": [list(p) for p in players]}
        await asyncio.wait_for(kv.put(self.key, json.dumps(body, separators=(",", ":")).encode()), self.timeout)
