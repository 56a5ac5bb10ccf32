"""Aliases coherent across servers: a change on one server drops every other server's copy.

Each server caches a player's aliases in memory (`AliasStorage`, read from the database on the
player's first command). After a definition or removal is committed, the server publishes
`mythos.alias.invalidate.<player_id>` on core NATS (outside the chat stream's subjects); every
other server unloads that player's aliases, so its next command for the player reads the database,
which stays the source of truth.

Core NATS is at-most-once, so what a server misses is made up for: an invalidation that could not
be sent (no link) is sent again when the link returns, and a server whose link comes back drops
every cached alias, since it may have missed invalidations meanwhile.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import suppress
from typing import Protocol

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from mythos.observability.logging import get_logger
from mythos.realtime.cluster_link import ClusterLink, follow_link, stop_follower

__all__ = ["SUBJECT_PREFIX", "AliasInvalidation"]

log = get_logger(__name__)

SUBJECT_PREFIX = "mythos.alias.invalidate"
FLUSH_TIMEOUT_S = 0.5
IDLE_CHECK_S = 1.0


class _AliasCache(Protocol):
    def unload(self, player_name: str) -> None: ...
    def unload_all(self) -> None: ...


class _Metrics(Protocol):
    def record_alias_invalidation(self, direction: str) -> None: ...


class AliasInvalidation:
    """Publishes this server's alias changes and applies the other servers'."""

    def __init__(self, server: str, link: ClusterLink, cache: _AliasCache, metrics: _Metrics) -> None:
        self.server = server
        self.link = link
        self.cache = cache
        self.metrics = metrics
        self._unsent: dict[int, str] = {}
        self._rounds = 0
        self._task: asyncio.Task[None] | None = None

    async def publish(self, player_id: int, player_name: str) -> None:
        """Tell the other servers; flushed, so the change is on its way before the player hears back."""
        nc = self.link.nc
        if nc is None:
            self._unsent[player_id] = player_name
            log.warning("alias_invalidation_deferred", player_id=player_id, reason="NATS link down")
            return
        try:
            await nc.publish(self._subject(player_id), self._body(player_id, player_name))
            await nc.flush(timeout=FLUSH_TIMEOUT_S)  # type: ignore[arg-type]
        except Exception as exc:
            self._unsent[player_id] = player_name
            log.warning("alias_invalidation_deferred", player_id=player_id, error=repr(exc))
            return
        self.metrics.record_alias_invalidation("sent")

    def _subject(self, player_id: int) -> str:
        return f"{SUBJECT_PREFIX}.{player_id}"

    def _body(self, player_id: int, player_name: str) -> bytes:
        body = {"player_id": player_id, "name": player_name, "origin": self.server}
        return json.dumps(body, separators=(",", ":")).encode()

    async def _on_msg(self, msg: Msg) -> None:
        try:
            body = json.loads(msg.data)
            origin, name = str(body["origin"]), str(body["name"])
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("alias_invalidation_malformed", subject=msg.subject, error=repr(exc))
            return
        if origin == self.server:
            return  # this server wrote through its own cache already
        self.cache.unload(name)
        self.metrics.record_alias_invalidation("received")

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            follow_link(self.link, "alias_invalidation", self._follow, lambda: None), name="alias-invalidation"
        )

    async def stop(self) -> None:
        await stop_follower(self._task)
        self._task = None

    async def _follow(self, generation: int, nc: NATS) -> None:
        sub = await nc.subscribe(f"{SUBJECT_PREFIX}.*", cb=self._on_msg)
        try:
            await nc.flush(timeout=FLUSH_TIMEOUT_S)  # type: ignore[arg-type]
            self._rounds += 1
            if self._rounds > 1:
                # Invalidations published while this server was away never reached it.
                self.cache.unload_all()
                log.info("alias_cache_dropped_after_reconnect", server=self.server, generation=generation)
            for player_id, name in list(self._unsent.items()):
                self._unsent.pop(player_id, None)
                await self.publish(player_id, name)
            while self.link.current(generation):
                await self.link.changed(IDLE_CHECK_S)
        finally:
            with suppress(Exception):
                await sub.unsubscribe()
