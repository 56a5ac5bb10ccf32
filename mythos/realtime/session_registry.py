"""One session per player across every server: a NATS JetStream KV registry of live sessions.

Key: the player id. Value: the server instance and session that hold the player, and since when.
Opening a new session writes the key; every server watches the bucket and evicts its own
connections of that player when the newest value names another (server, session). The KV's
revision orders concurrent logins: the highest revision wins on every server, because each acts
only on a value newer than the newest it has seen (`SessionTable`), whether that value came from
the watch or from its own write. So the winner never evicts itself when the loser's older write
arrives late, and the loser always evicts itself: its write returned a lower revision than one it
saw, or will see, on the watch. docs/adr/ADR-006-cluster-sessions.md gives the whole argument.

When the registry cannot be reached (NATS down, the watch not in sync, a write that fails or
times out), a server admits only a reconnect of a session it holds per the newest value it saw;
any other session is refused with `SessionRegistryUnavailable` (HTTP 503 / WebSocket 1013, with a
retry-after), since admitting it could make a second live session nobody can check.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import NoReturn, Protocol

import nats.errors
from nats.aio.client import Client as NATS
from nats.js.api import KeyValueConfig
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from mythos.observability.logging import get_logger
from mythos.realtime.cluster_link import ClusterLink, bind_bucket, follow_link, stop_follower

__all__ = [
    "SESSIONS_BUCKET",
    "Claim",
    "SessionRegistry",
    "SessionRegistryUnavailable",
    "SessionTable",
]

log = get_logger(__name__)

SESSIONS_BUCKET = "mythos_sessions"
WATCH_POLL_S = 0.25
"""How often the watch loop looks up from an idle watch to check that its connection is current."""


class _Metrics(Protocol):
    def set_registry_available(self, available: bool) -> None: ...
    def record_cross_server_eviction(self) -> None: ...
    def record_registry_refusal(self) -> None: ...
    def record_session_claim(self) -> None: ...


class _Connections(Protocol):
    def evict(self, player_id: int, keep_session: str | None) -> int: ...


class _Handoff(Protocol):
    """The rate window's handoff (`mythos.realtime.rate_handoff`), told when the session moves."""

    def handed_over(self, player_id: int, held_revision: int, to_server: str) -> None: ...
    def taken_over(self, player_id: int, previous_revision: int) -> None: ...


class _Settings(Protocol):
    """The part of ClusterConfig used here (read-only)."""

    @property
    def registry_timeout_seconds(self) -> float: ...

    @property
    def retry_after_seconds(self) -> float: ...


class SessionRegistryUnavailable(Exception):
    """A new session could not be checked against the registry, so it is refused."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after

    @property
    def message(self) -> str:
        return f"Logins are paused: {self.reason}. Please try again in {max(1, round(self.retry_after))} s."


@dataclass(frozen=True, slots=True)
class Claim:
    """One registry value: `server` holds the player's session `session_id` from `revision` on."""

    revision: int
    server: str
    session_id: str
    since: float

    def to_bytes(self) -> bytes:
        body = {"server": self.server, "session_id": self.session_id, "since": self.since}
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, revision: int, data: bytes) -> Claim:
        try:
            body = json.loads(data)
            return cls(revision, str(body["server"]), str(body["session_id"]), float(body.get("since", 0.0)))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a session claim: {data[:80]!r}") from exc


class SessionTable:
    """The newest claim this server has seen per player. Pure: no I/O, no clock."""

    def __init__(self, server: str) -> None:
        self.server = server
        self._latest: dict[int, Claim] = {}

    def latest(self, player_id: int) -> Claim | None:
        return self._latest.get(player_id)

    def apply(self, player_id: int, claim: Claim) -> bool:
        """Record `claim` if it is newer than what is known; False for a stale or repeated one."""
        known = self._latest.get(player_id)
        if known is not None and known.revision >= claim.revision:
            return False
        self._latest[player_id] = claim
        return True

    def owns(self, player_id: int, session_id: str) -> bool:
        """Does the newest claim name this server and this session?"""
        claim = self._latest.get(player_id)
        return claim is not None and claim.server == self.server and claim.session_id == session_id

    def holds(self, player_id: int) -> bool:
        """Does the newest claim name this server (whatever the session)?"""
        claim = self._latest.get(player_id)
        return claim is not None and claim.server == self.server

    def keep_session(self, player_id: int) -> str | None:
        """The session this server may keep for the player: the newest claim's, if it is ours."""
        claim = self._latest.get(player_id)
        return claim.session_id if claim is not None and claim.server == self.server else None

    def owner_of(self, player_id: int) -> str | None:
        claim = self._latest.get(player_id)
        return claim.server if claim is not None else None


class SessionRegistry:
    """The registry client of one server: claims sessions, follows the bucket, evicts losers."""

    def __init__(
        self,
        server: str,
        link: ClusterLink,
        connections: _Connections,
        metrics: _Metrics,
        settings: _Settings,
        *,
        replicas: int = 1,
        bucket: str = SESSIONS_BUCKET,
    ) -> None:
        self.server = server
        self.table = SessionTable(server)
        self.link = link
        self.connections = connections
        self.metrics = metrics
        self.timeout = settings.registry_timeout_seconds
        self.retry_after = settings.retry_after_seconds
        self.bucket_config = KeyValueConfig(bucket=bucket, history=1, replicas=replicas)
        self._kv: KeyValue | None = None
        self._synced: int | None = None  # the link generation whose watch has caught up
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}  # lock, admissions using it
        self._task: asyncio.Task[None] | None = None
        # Set by the composition root when the rate window follows the session (a cluster).
        self.handoff: _Handoff | None = None
        metrics.set_registry_available(False)

    # -- state -----------------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """Can a new session be checked now: connected, the bucket bound and the watch in sync?"""
        return self._kv is not None and self._synced is not None and self.link.current(self._synced)

    def holds(self, player_id: int) -> bool:
        return self.table.holds(player_id)

    def owner_of(self, player_id: int) -> str | None:
        return self.table.owner_of(player_id)

    def held_revision(self, player_id: int) -> int | None:
        """The revision of the claim by which this server holds the player, or None."""
        claim = self.table.latest(player_id)
        return claim.revision if claim is not None and claim.server == self.server else None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            follow_link(self.link, "session_registry", self._follow, self._lost), name="session-registry"
        )

    async def stop(self) -> None:
        await stop_follower(self._task)
        self._task = None
        self._lost()

    def _lost(self) -> None:
        self._kv = None
        self._synced = None
        self.metrics.set_registry_available(False)

    async def _follow(self, generation: int, nc: NATS) -> None:
        """Bind the bucket and apply its watch until this connection is no longer current."""
        kv = await bind_bucket(nc.jetstream(timeout=self.timeout), self.bucket_config)
        # Newest value of every key first, then every change: what this server missed while it was
        # away arrives here too, and applying it evicts what another server has taken meanwhile.
        watcher = await kv.watchall()
        self._kv = kv
        try:
            while self.link.current(generation):
                try:
                    entry = await watcher.updates(timeout=WATCH_POLL_S)
                except nats.errors.TimeoutError:
                    continue
                if entry is None:
                    self._synced = generation
                    self.metrics.set_registry_available(True)
                    log.info("session_registry_in_sync", server=self.server, generation=generation)
                    continue
                if not isinstance(entry, KeyValue.Entry):
                    return  # the watcher was stopped
                self._on_entry(entry)
        finally:
            with suppress(Exception):
                await asyncio.wait_for(watcher.stop(), self.timeout)

    def _on_entry(self, entry: KeyValue.Entry) -> None:
        # Nothing here deletes keys; an operator's delete or purge leaves the last claim standing.
        if entry.operation in (KV_DEL, KV_PURGE) or not entry.value or entry.revision is None:
            return
        try:
            player_id = int(entry.key)
            claim = Claim.from_bytes(entry.revision, entry.value)
        except ValueError as exc:
            log.warning("session_registry_bad_entry", key=entry.key, error=str(exc))
            return
        self._apply(player_id, claim)

    def _apply(self, player_id: int, claim: Claim) -> None:
        """Record a claim; when it is the newest, evict what this server holds of another session
        and, when the session leaves this server, hand the player's rate window to the new one."""
        previous = self.table.latest(player_id)
        if self.table.apply(player_id, claim):
            if (self.handoff is not None and previous is not None and previous.server == self.server
                    and claim.server != self.server):
                self.handoff.handed_over(player_id, previous.revision, claim.server)
            self._enforce(player_id)

    def _enforce(self, player_id: int) -> None:
        keep = self.table.keep_session(player_id)
        evicted = self.connections.evict(player_id, keep)
        if evicted and keep is None:
            claim = self.table.latest(player_id)
            self.metrics.record_cross_server_eviction()
            log.info(
                "session_evicted_by_cluster",
                player_id=player_id,
                connections=evicted,
                by_server=claim.server if claim else None,
                revision=claim.revision if claim else None,
            )

    # -- admission -------------------------------------------------------------------------------

    @asynccontextmanager
    async def admission(self, player_id: int, session_id: str) -> AsyncIterator[None]:
        """Claim the player for `session_id` (unless this server holds that session already), let
        the caller register its connection, then evict it at once if a newer claim won meanwhile.

        Admissions of one player on this server run one at a time, so the order in which their
        connections are registered here is the order of their revisions.
        Raises SessionRegistryUnavailable when a needed claim cannot be made.
        """
        lock, users = self._locks.get(player_id) or (asyncio.Lock(), 0)
        self._locks[player_id] = (lock, users + 1)
        try:
            async with lock:
                if not self.table.owns(player_id, session_id):
                    await self._claim(player_id, session_id)
                yield
                self._enforce(player_id)
        finally:
            lock, users = self._locks[player_id]
            if users <= 1:
                del self._locks[player_id]
            else:
                self._locks[player_id] = (lock, users - 1)

    async def _claim(self, player_id: int, session_id: str) -> None:
        kv = self._kv
        if kv is None or not self.available:
            self._refuse(player_id, "the session registry is unreachable (NATS is down)")
        claim = Claim(0, self.server, session_id, time.time())
        previous = self.table.latest(player_id)
        try:
            revision = await asyncio.wait_for(kv.put(str(player_id), claim.to_bytes()), self.timeout)
        except Exception as exc:  # a timeout, a lost link, a JetStream error: unchecked either way
            # The write may still land; it then evicts the player's older session elsewhere while
            # this one is refused. Fail closed: no session beats two.
            log.warning("session_claim_failed", player_id=player_id, error=repr(exc))
            self._refuse(player_id, "the session registry did not answer")
        self.metrics.record_session_claim()
        if self.handoff is not None and previous is not None and previous.server != self.server:
            # Before the claim is applied: the player's commands wait for the previous server's window.
            self.handoff.taken_over(player_id, previous.revision)
        self._apply(player_id, Claim(revision, self.server, session_id, claim.since))

    def _refuse(self, player_id: int, reason: str) -> NoReturn:
        self.metrics.record_registry_refusal()
        log.warning("session_refused_registry_unavailable", player_id=player_id, reason=reason, server=self.server)
        raise SessionRegistryUnavailable(reason, self.retry_after)
