"""Supervised NATS connection: nats-py's callbacks drive the link FSM, and a supervisor loop
reconnects from scratch, forever and with backoff, when nats-py gives up or hangs.

nats-py reconnects by itself for `max_reconnect_attempts`; after that the connection is closed
for good. A reconnect can also hang on a dead transport (nats.py #671). The supervisor bounds
both: a reconnect that lasts longer than `watchdog_seconds` is abandoned and a new connection is
made, with exponential backoff between fresh attempts, so the link returns however many times the
server restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client as NATS

from mythos.observability.logging import get_logger
from mythos.realtime.circuit_breaker import CircuitBreaker, CircuitState
from mythos.realtime.connection_state_machine import ConnectionState, NATSConnectionStateMachine

__all__ = ["LinkSettings", "NATSLink"]

log = get_logger(__name__)

OnConnected = Callable[[NATS], Awaitable[None]]
WATCH_TICK_S = 0.1
CLOSE_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class LinkSettings:
    url: str = "nats://127.0.0.1:4222"
    connect_timeout: float = 5.0
    reconnect_time_wait: float = 1.0
    max_reconnect_attempts: int = 5
    ping_interval: float = 2.0
    max_outstanding_pings: int = 2
    watchdog_seconds: float = 10.0
    backoff_base: float = 0.2
    backoff_max: float = 5.0
    max_payload: int = 1_048_576
    name: str = "mythos"

    @classmethod
    def from_config(cls, nats_config: Any, name: str = "mythos") -> LinkSettings:
        """Build from `config.nats` (mythos.config.NATSConfig)."""
        return cls(
            url=nats_config.url,
            connect_timeout=float(nats_config.connect_timeout),
            reconnect_time_wait=float(nats_config.reconnect_time_wait),
            max_reconnect_attempts=int(nats_config.max_reconnect_attempts),
            ping_interval=float(nats_config.ping_interval),
            max_outstanding_pings=int(nats_config.max_outstanding_pings),
            watchdog_seconds=float(nats_config.reconnect_watchdog_seconds),
            max_payload=int(nats_config.max_payload),
            name=name,
        )

    def backoff(self, attempt: int) -> float:
        """Delay before fresh attempt `attempt` (1-based), with equal jitter."""
        delay = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return delay / 2 + random.uniform(0, delay / 2)


class NATSLink:
    """Keeps one live nats-py connection; `on_connected` hooks run after each fresh connection."""

    def __init__(
        self,
        settings: LinkSettings,
        fsm: NATSConnectionStateMachine | None = None,
        connect: Callable[..., Awaitable[NATS]] = nats.connect,
    ) -> None:
        self.settings = settings
        self.fsm = fsm or NATSConnectionStateMachine(settings.name)
        self._connect = connect
        self._hooks: list[OnConnected] = []
        self._nc: NATS | None = None
        self._generation = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._changed = asyncio.Event()
        self._connected = asyncio.Event()
        self._reconnecting_since: float | None = None
        self.fresh_connects = 0
        self.watchdog_fired = 0

    @property
    def nc(self) -> NATS | None:
        return self._nc

    @property
    def state(self) -> ConnectionState:
        return self.fsm.state

    @property
    def is_connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    def on_connected(self, hook: OnConnected) -> None:
        self._hooks.append(hook)

    def attach_breaker(self, breaker: CircuitBreaker) -> None:
        """Mirror the breaker into the link FSM: open -> circuit_open, closed -> connected."""

        def follow(state: CircuitState) -> None:
            if state is CircuitState.OPEN:
                self.fsm.fire("breaker_opened", "circuit breaker opened")
            elif state is CircuitState.CLOSED:
                self.fsm.fire("breaker_closed", "circuit breaker closed")

        breaker.add_listener(follow)

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._supervise(), name=f"nats-link-{self.settings.name}")

    async def wait_connected(self, within: float) -> bool:
        try:
            await asyncio.wait_for(self._connected.wait(), within)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        self._stopping = True
        self._changed.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close_current("stop requested")
        self.fsm.fire("closed", "stop requested")

    # -- nats-py callbacks, bound to one connection generation --------------------------------
    def _callbacks(self, generation: int) -> dict[str, Callable[..., Awaitable[None]]]:
        def current() -> bool:
            return generation == self._generation and not self._stopping

        async def error_cb(error: Exception) -> None:
            log.info("nats_error", link=self.settings.name, error=repr(error), current=current())

        async def disconnected_cb() -> None:
            if current():
                self._connected.clear()
                self._reconnecting_since = time.monotonic()
                self.fsm.fire("lost", "disconnected_cb: transport lost")
                self._changed.set()

        async def reconnected_cb() -> None:
            if current():
                self._reconnecting_since = None
                self.fsm.fire("established", "reconnected_cb: nats-py reconnected")
                self._connected.set()
                self._changed.set()

        async def closed_cb() -> None:
            if current():
                self._connected.clear()
                self._changed.set()

        return {
            "error_cb": error_cb,
            "disconnected_cb": disconnected_cb,
            "reconnected_cb": reconnected_cb,
            "closed_cb": closed_cb,
        }

    # -- supervisor ------------------------------------------------------------------------------
    async def _supervise(self) -> None:
        attempt = 0
        while not self._stopping:
            self.fsm.fire("start", "fresh connection" if attempt == 0 else f"fresh attempt {attempt + 1}")
            try:
                await self._open()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                attempt += 1
                self.fsm.fire("connect_failed", repr(error))
                await asyncio.sleep(self.settings.backoff(attempt))
                continue
            attempt = 0
            await self._watch()
            if self._stopping:
                return
            await self._close_current("supervisor restarting the connection")
            if self.fsm.state is not ConnectionState.RECONNECTING:
                self.fsm.fire("lost", "connection closed by nats-py")

    async def _open(self) -> None:
        self._generation += 1
        s = self.settings
        # The whole connect, including nats-py's own retries, is bounded like a hung reconnect.
        nc = await asyncio.wait_for(
            self._connect(
                s.url,
                name=s.name,
                connect_timeout=s.connect_timeout,
                reconnect_time_wait=s.reconnect_time_wait,
                max_reconnect_attempts=s.max_reconnect_attempts,
                ping_interval=s.ping_interval,
                max_outstanding_pings=s.max_outstanding_pings,
                allow_reconnect=True,
                **self._callbacks(self._generation),
            ),
            timeout=s.connect_timeout + s.watchdog_seconds,
        )
        self._nc = nc
        self._reconnecting_since = None
        self.fresh_connects += 1
        try:
            for hook in self._hooks:
                await hook(nc)
        except Exception:
            await self._close_current("on_connected hook failed")
            raise
        cause = "connected" if self.fresh_connects == 1 else "fresh connection after loss"
        self.fsm.fire("established", cause)
        self._connected.set()

    async def _watch(self) -> None:
        """Return when the connection is closed for good or a reconnect outlived the watchdog."""
        while not self._stopping:
            nc = self._nc
            if nc is None or nc.is_closed:
                log.info("nats_link_closed", link=self.settings.name)
                return
            since = self._reconnecting_since
            if since is not None and time.monotonic() - since > self.settings.watchdog_seconds:
                self.watchdog_fired += 1
                log.warning(
                    "nats_reconnect_watchdog_fired",
                    link=self.settings.name,
                    waited_s=round(time.monotonic() - since, 2),
                )
                return
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), WATCH_TICK_S * 5)

    async def _close_current(self, cause: str) -> None:
        nc, self._nc = self._nc, None
        self._connected.clear()
        if nc is None or nc.is_closed:
            return
        self._generation += 1  # callbacks of the old connection no longer drive the FSM
        try:
            await asyncio.wait_for(nc.close(), CLOSE_TIMEOUT_S)
        except Exception as error:  # a hung close is abandoned, like the hung reconnect
            log.warning("nats_close_abandoned", link=self.settings.name, cause=cause, error=repr(error))
