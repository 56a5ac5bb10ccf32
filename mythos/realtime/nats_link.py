"""Supervised NATS connection: nats-py's callbacks drive the link FSM, and a supervisor loop
reconnects from scratch, forever and with backoff, when nats-py gives up or hangs.

nats-py reconnects by itself for `max_reconnect_attempts`; after that the connection is closed
for good. A reconnect can also hang on a dead transport (nats.py #671). The supervisor bounds
both: a reconnect that lasts longer than `watchdog_seconds` is abandoned and a new connection is
made, with exponential backoff between fresh attempts, so the link returns however many times the
server restarts.

Replacing a connection is fenced: every connection carries a generation, its callbacks only drive
the FSM while it is current, `on_retire` hooks let users drop it before it is closed, and the close
is repeated until it sticks. nats-py can lose close()'s cancellation of a reconnect that is just
completing (asyncio.wait_for on Python 3.11 returns the inner result when cancelled at that
moment); the reconnect then overwrites CLOSED with CONNECTED and the old client lives on as a
zombie that reconnects by itself (see docs/adr/ADR-004-error-boundaries.md).
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
from mythos.realtime.connection_state_machine import ConnectionState, NATSConnectionStateMachine, Transition

__all__ = ["LinkSettings", "NATSLink"]

log = get_logger(__name__)

OnConnected = Callable[[NATS], Awaitable[None]]
OnRetire = Callable[[NATS], None]
WATCH_TICK_S = 0.1
CLOSE_TIMEOUT_S = 2.0
CLOSE_ROUNDS = 3
"""close() calls before a client that keeps coming back is given up on (and logged)."""


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
    backoff_max: float = 1.0
    """A fresh attempt at most every second: after a long outage the link is back within about
    a second of the heal (each attempt to a server that is down costs one refused connect)."""
    max_payload: int = 1_048_576
    name: str = "mythos"
    dont_randomize: bool = False
    """Dial the servers of ``url`` in the order given (nats-py shuffles them otherwise)."""

    @property
    def servers(self) -> list[str]:
        """Every server of ``url`` (comma-separated for a cluster): nats-py wants a list."""
        return [server.strip() for server in self.url.split(",")]

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
            dont_randomize=bool(nats_config.dont_randomize),
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
        self._retire_hooks: list[OnRetire] = []
        self._nc: NATS | None = None
        self._generation = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._changed = asyncio.Event()
        self._connected = asyncio.Event()
        self._reconnecting_since: float | None = None
        self.fresh_connects = 0
        self.watchdog_fired = 0
        self.close_retries = 0
        """Extra close() rounds needed because an old client resurrected itself."""

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

    def on_retire(self, hook: OnRetire) -> None:
        """`hook(nc)` runs just before `nc` is closed for good, so users stop fetching from it."""
        self._retire_hooks.append(hook)

    def attach_breaker(self, breaker: CircuitBreaker) -> None:
        """Mirror the breaker into the link FSM (open -> circuit_open, closed -> connected), and
        let an open breaker probe as soon as the link is established again: waiting out its open
        timeout then only delays chat that NATS would already take."""

        def follow(state: CircuitState) -> None:
            if state is CircuitState.OPEN:
                self.fsm.fire("breaker_opened", "circuit breaker opened")
            elif state is CircuitState.CLOSED:
                self.fsm.fire("breaker_closed", "circuit breaker closed")

        def link_back(transition: Transition) -> None:
            if transition.event == "established":
                breaker.probe_now(f"link established ({transition.cause})")

        breaker.add_listener(follow)
        self.fsm.add_observer(link_back)

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
                s.servers,
                name=s.name,
                dont_randomize=s.dont_randomize,
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
            if nc.is_connected:
                # nats-py finished its reconnect; reconnected_cb is on its way (after a flush).
                since = None
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
        if nc is None:
            return
        self._generation += 1  # callbacks of the old connection no longer drive the FSM
        for hook in self._retire_hooks:
            try:
                hook(nc)
            except Exception as error:  # a user's bug must not keep the old client alive
                log.warning("nats_retire_hook_failed", link=self.settings.name, error=repr(error))
        await self._close_for_good(nc, cause)

    async def _close_for_good(self, nc: NATS, cause: str) -> None:
        """Close `nc` and make sure it stays closed.

        A reconnect that nats-py could not cancel may finish after close() and set the client
        CONNECTED again; with allow_reconnect off its next transport error closes it instead of
        reconnecting, and the reconnect task is reaped here before the close is repeated.
        """
        options = getattr(nc, "options", None)
        if isinstance(options, dict):
            options["allow_reconnect"] = False
        for attempt in range(1, CLOSE_ROUNDS + 1):
            if nc.is_closed and not _reconnect_in_flight(nc):
                return
            if attempt > 1:
                self.close_retries += 1
                log.warning("nats_close_did_not_stick", link=self.settings.name, cause=cause, round=attempt)
            try:
                await asyncio.wait_for(nc.close(), CLOSE_TIMEOUT_S)
            except Exception as error:  # a hung close is abandoned, like the hung reconnect
                log.warning("nats_close_abandoned", link=self.settings.name, cause=cause, error=repr(error))
            await _reap_reconnect(nc)
        if not nc.is_closed:
            log.error("nats_close_gave_up", link=self.settings.name, cause=cause, rounds=CLOSE_ROUNDS)


def _reconnect_in_flight(nc: NATS) -> bool:
    task: asyncio.Task[None] | None = getattr(nc, "_reconnection_task", None)
    return task is not None and not task.done()


async def _reap_reconnect(nc: NATS) -> None:
    """Cancel nats-py's reconnect task (private, hence getattr) and wait for it, bounded."""
    task: asyncio.Task[None] | None = getattr(nc, "_reconnection_task", None)
    if task is None or task.done():
        return
    task.cancel()
    await asyncio.wait({task}, timeout=CLOSE_TIMEOUT_S)
