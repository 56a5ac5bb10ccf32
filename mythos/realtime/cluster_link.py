"""The NATS connection the cluster features (session registry, presence, alias invalidation) share
with chat, and a generation that says when it came back.

They ride the chat link (one connection per server, supervised in `nats_link`) instead of opening
their own. Each keeps a subscription or a KV watch that must be made again after the link comes
back: nats-py restores a plain subscription after its own reconnect, but whatever was published
while the link was down is gone, and a supervisor's fresh connection starts with no
subscriptions at all. So every `established` transition of the link FSM starts a new generation,
and a follower that sees the generation move on starts over (`follow_link`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from mythos.observability.logging import get_logger
from mythos.realtime.connection_state_machine import Transition

__all__ = ["ClusterLink", "LinkSource", "bind_bucket", "follow_link", "kv_key", "stop_follower"]

log = get_logger(__name__)

RESTART_PAUSE_S = 0.2
"""Pause before a follower starts over after its work on one generation ended or failed."""
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=")


class _FSM(Protocol):
    def add_observer(self, observer: Callable[[Transition], None]) -> None: ...


class LinkSource(Protocol):
    """The part of `NATSLink` the cluster features need."""

    @property
    def nc(self) -> NATS | None: ...

    @property
    def is_connected(self) -> bool: ...

    @property
    def fsm(self) -> _FSM: ...


class ClusterLink:
    """The live client (or None) and a generation that moves on every (re)connection."""

    def __init__(self, link: LinkSource) -> None:
        self._link = link
        self.generation = 0
        self._waiters: set[asyncio.Future[None]] = set()
        link.fsm.add_observer(self._observe)

    def _observe(self, transition: Transition) -> None:
        if transition.event == "established":
            self.generation += 1
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    @property
    def nc(self) -> NATS | None:
        """The client while it is connected, else None."""
        nc = self._link.nc
        return nc if nc is not None and self._link.is_connected else None

    @property
    def connected(self) -> bool:
        return self.nc is not None

    def current(self, generation: int) -> bool:
        """True while the connection of `generation` is still the live one."""
        return self.generation == generation and self.connected

    async def changed(self, within: float) -> None:
        """Return at the link's next transition, or after `within` seconds."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait({waiter}, timeout=within)
        finally:
            self._waiters.discard(waiter)

    async def wait_connected(self) -> tuple[int, NATS]:
        """The generation and client once the link is connected."""
        while True:
            nc = self.nc
            if nc is not None and self.generation > 0:
                return self.generation, nc
            await self.changed(1.0)


async def follow_link(
    link: ClusterLink, name: str, work: Callable[[int, NATS], Awaitable[None]], on_end: Callable[[], None]
) -> None:
    """Run `work(generation, nc)` for each connection of the link, forever (cancel to stop).

    `work` returns (or raises) when its generation is over; `on_end` runs after each round, so a
    follower never claims to be in sync with a connection that is gone.
    """
    while True:
        generation, nc = await link.wait_connected()
        try:
            await work(generation, nc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # NATS errors of every kind: start over on the next round
            log.warning("cluster_follower_failed", follower=name, generation=generation, error=repr(exc))
        finally:
            on_end()
        await asyncio.sleep(RESTART_PAUSE_S)


async def stop_follower(task: asyncio.Task[None] | None) -> None:
    """Cancel a :func:`follow_link` task and wait until it has ended (None: nothing started)."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def bind_bucket(js: JetStreamContext, config: KeyValueConfig) -> KeyValue:
    """The KV bucket, created when missing. Several servers may race to create it: creating a
    bucket that exists with the same settings succeeds, and with other settings (an operator
    changed the TTL) the existing one is used."""
    try:
        return await js.key_value(config.bucket)
    except BucketNotFoundError:
        pass
    try:
        return await js.create_key_value(config)
    except Exception as exc:
        log.info("kv_bucket_create_failed_binding_existing", bucket=config.bucket, error=repr(exc))
        return await js.key_value(config.bucket)


def kv_key(text: str) -> str:
    """`text` as a valid KV key (letters, digits, '-', '_', '=')."""
    return "".join(c if c in _KEY_CHARS else "_" for c in text) or "_"
