"""Circuit breaker whose closed / open / half-open states live in a python-statemachine FSM.

Open stops hammering a NATS server that is down; after `timeout` one probe is let through
(half-open), and `success_threshold` successes in a row close the breaker again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from enum import StrEnum
from typing import Any

from statemachine import State, StateMachine

from mythos.observability.logging import get_logger

__all__ = ["BreakerFSM", "CircuitBreaker", "CircuitBreakerOpen", "CircuitState"]

log = get_logger(__name__)

Clock = Callable[[], float]
StateListener = Callable[["CircuitState"], None]


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreakerOpen(Exception):
    """Raised instead of calling through while the breaker is open."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"circuit breaker open, retry after {retry_after:.2f}s")
        self.retry_after = retry_after


class BreakerFSM(StateMachine):
    """The breaker's legal transitions; anything else raises TransitionNotAllowed."""

    closed = State(initial=True, value=CircuitState.CLOSED.value)
    open = State(value=CircuitState.OPEN.value)
    half_open = State(value=CircuitState.HALF_OPEN.value)

    trip = closed.to(open) | half_open.to(open)
    probe = open.to(half_open)
    reset = half_open.to(closed)

    def after_transition(self, event: str, source: State, target: State, cause: str = "") -> None:
        log.info(
            "circuit_breaker_transition", trigger=event, source=source.value, target=target.value, cause=cause
        )


class CircuitBreaker:
    """Counts consecutive failures of `call`; excluded errors (bad input) pass through uncounted."""

    def __init__(
        self,
        failure_threshold: int = 5,
        timeout: timedelta = timedelta(seconds=60),
        success_threshold: int = 2,
        clock: Clock = time.monotonic,
        excluded: Callable[[BaseException], bool] = lambda _e: False,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.timeout = timeout
        self.success_threshold = success_threshold
        self._clock = clock
        self._excluded = excluded
        self._fsm = BreakerFSM()
        self._failures = 0
        self._successes = 0
        self._opened_at = 0.0
        self._probe_in_flight = False
        self._lock = asyncio.Lock()
        self._listeners: list[StateListener] = []

    @classmethod
    def from_nats_config(cls, nats_config: Any, **kwargs: Any) -> CircuitBreaker:
        """The game's values from `config.nats` (NATS_BREAKER_*)."""
        return cls(
            failure_threshold=int(nats_config.breaker_failure_threshold),
            timeout=timedelta(seconds=float(nats_config.breaker_timeout_seconds)),
            success_threshold=int(nats_config.breaker_success_threshold),
            **kwargs,
        )

    @property
    def state(self) -> CircuitState:
        """Current state; an expired open breaker reports half_open, as the next call would probe."""
        if self._fsm.current_state_value == CircuitState.OPEN.value and self._timeout_elapsed():
            self._transition("probe", "timeout elapsed")
        return CircuitState(self._fsm.current_state_value)

    @property
    def failure_count(self) -> int:
        return self._failures

    def add_listener(self, listener: StateListener) -> None:
        """Called with the new state after every transition (metrics hook)."""
        self._listeners.append(listener)

    def retry_after(self) -> float:
        remaining = self.timeout.total_seconds() - (self._clock() - self._opened_at)
        return max(0.0, remaining)

    def _timeout_elapsed(self) -> bool:
        return self._clock() - self._opened_at >= self.timeout.total_seconds()

    def _transition(self, event: str, cause: str) -> None:
        self._fsm.send(event, cause=cause)
        new = CircuitState(self._fsm.current_state_value)
        if new is CircuitState.OPEN:
            self._opened_at = self._clock()
        self._successes = 0
        if new is CircuitState.CLOSED:
            self._failures = 0
        for listener in self._listeners:
            listener(new)

    async def call(self, func: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """Call through unless open; only one probe runs at a time while half-open."""
        async with self._lock:
            state = self.state
            if state is CircuitState.OPEN:
                raise CircuitBreakerOpen(self.retry_after())
            if state is CircuitState.HALF_OPEN:
                if self._probe_in_flight:
                    raise CircuitBreakerOpen(0.0)
                self._probe_in_flight = True
            probing = state is CircuitState.HALF_OPEN
        try:
            result = await func(*args, **kwargs)
        except Exception as error:
            async with self._lock:
                self._probe_in_flight = False if probing else self._probe_in_flight
                if not self._excluded(error):
                    self._on_failure(error)
            raise
        async with self._lock:
            self._probe_in_flight = False if probing else self._probe_in_flight
            self._on_success()
        return result

    def _on_failure(self, error: BaseException) -> None:
        current = CircuitState(self._fsm.current_state_value)
        if current is CircuitState.HALF_OPEN:
            self._transition("trip", f"probe failed: {error!r}")
            return
        if current is CircuitState.OPEN:
            return
        self._failures += 1
        if self._failures >= self.failure_threshold:
            self._transition("trip", f"{self._failures} consecutive failures, last {error!r}")

    def _on_success(self) -> None:
        current = CircuitState(self._fsm.current_state_value)
        if current is CircuitState.HALF_OPEN:
            self._successes += 1
            if self._successes >= self.success_threshold:
                self._transition("reset", f"{self._successes} successful probes")
        elif current is CircuitState.CLOSED:
            self._failures = 0
