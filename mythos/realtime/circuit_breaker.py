"""Circuit breaker whose closed / open / half-open states live in a python-statemachine FSM.

Open stops hammering a NATS server that is down; after the open timeout one probe is let through
(half-open), and `success_threshold` successes in a row close the breaker again. The open timeout
starts at `first_timeout`, doubles each time a probe fails, is capped at `timeout`, and starts
short again after a close; `probe_now` lets an open breaker probe at once when the link has just
come back (ADR-004), so recovery does not wait out a timeout chosen for a server still down.

Every admitted call carries the breaker's epoch (bumped on each transition): a result counts
only in the epoch that admitted it, so a slow call admitted while closed cannot close or re-trip
a half-open breaker, and only the probe moves half-open. A cancelled call is no verdict on NATS:
it releases its probe slot and counts neither way.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from statemachine import State, StateMachine

from mythos.observability.logging import get_logger

__all__ = ["FIRST_OPEN_TIMEOUT", "Admission", "BreakerFSM", "CircuitBreaker", "CircuitBreakerOpen", "CircuitState"]

log = get_logger(__name__)

Clock = Callable[[], float]
FIRST_OPEN_TIMEOUT = timedelta(seconds=0.25)
"""The game's first open timeout: a blip is probed again within a quarter second."""
OPEN_TIMEOUT_GROWTH = 2.0
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


@dataclass(frozen=True, slots=True)
class Admission:
    """One admitted call: the epoch it was admitted in, and whether it is the half-open probe."""

    epoch: int
    probe: bool = False


class BreakerFSM(StateMachine):
    """The breaker's legal transitions; anything else raises TransitionNotAllowed."""

    closed = State(initial=True, value=CircuitState.CLOSED.value)
    open = State(value=CircuitState.OPEN.value)
    half_open = State(value=CircuitState.HALF_OPEN.value)

    trip = closed.to(open) | half_open.to(open)
    probe = open.to(half_open)
    reset = half_open.to(closed)

    def after_transition(self, event: str, source: State, target: State, cause: str = "") -> None:
        log.info("circuit_breaker_transition", trigger=event, source=source.value, target=target.value, cause=cause)


class CircuitBreaker:
    """Counts consecutive failures of `call`; excluded errors (bad input) pass through uncounted."""

    def __init__(
        self,
        failure_threshold: int = 5,
        timeout: timedelta = timedelta(seconds=60),
        success_threshold: int = 2,
        clock: Clock = time.monotonic,
        excluded: Callable[[BaseException], bool] = lambda _e: False,
        first_timeout: timedelta | None = None,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.timeout = timeout
        """The longest the breaker stays open (the cap of the growing open timeout)."""
        self.first_timeout = min(first_timeout, timeout) if first_timeout is not None else timeout
        """The open timeout after a trip from closed; without it the timeout is fixed (the spec's)."""
        self._open_for = self.first_timeout.total_seconds()
        self.success_threshold = success_threshold
        self._clock = clock
        self._excluded = excluded
        self._fsm = BreakerFSM()
        self._failures = 0
        self._successes = 0
        self._opened_at = 0.0
        self._probe_in_flight = False
        self._epoch = 0
        self._closed_admission = Admission(0)
        """The admission of every call while closed in this epoch: immutable, so one serves all."""
        self._state = CircuitState.CLOSED
        self._listeners: list[StateListener] = []

    @classmethod
    def from_nats_config(cls, nats_config: Any, **kwargs: Any) -> CircuitBreaker:
        """The game's values from `config.nats` (NATS_BREAKER_*): NATS_BREAKER_TIMEOUT caps an
        open timeout that starts at FIRST_OPEN_TIMEOUT."""
        kwargs.setdefault("first_timeout", FIRST_OPEN_TIMEOUT)
        return cls(
            failure_threshold=int(nats_config.breaker_failure_threshold),
            timeout=timedelta(seconds=float(nats_config.breaker_timeout_seconds)),
            success_threshold=int(nats_config.breaker_success_threshold),
            **kwargs,
        )

    @property
    def state(self) -> CircuitState:
        """Current state; an expired open breaker reports half_open, as the next call would probe."""
        if self._state is CircuitState.OPEN and self._timeout_elapsed():
            self._transition("probe", "timeout elapsed")
        return self._state

    @property
    def failure_count(self) -> int:
        return self._failures

    def add_listener(self, listener: StateListener) -> None:
        """Called with the new state after every transition (metrics hook)."""
        self._listeners.append(listener)

    @property
    def open_timeout(self) -> float:
        """Seconds the breaker stays open this time (grown by failed probes, capped at `timeout`)."""
        return self._open_for

    def retry_after(self) -> float:
        remaining = self._open_for - (self._clock() - self._opened_at)
        return max(0.0, remaining)

    def _timeout_elapsed(self) -> bool:
        return self._clock() - self._opened_at >= self._open_for

    def probe_now(self, cause: str) -> bool:
        """Let an open breaker probe at once (the link has just been re-established); True when it
        moved to half-open. Only the probe's verdict closes it, so a link that is back but still
        failing publishes re-opens it, with the next, longer timeout."""
        if self._state is not CircuitState.OPEN:
            return False
        self._transition("probe", cause)
        return True

    def probe_on_evidence(self, cause: str) -> bool:
        """Like :meth:`probe_now`, for evidence that the service answers again (the consumer
        fetched from the stream) rather than a fresh link: not before the breaker has been open
        for its first timeout, so evidence that keeps coming while publishes still fail costs at
        most one failed probe per FIRST_OPEN_TIMEOUT, not one per fetch. The service is coming
        back, so the backoff restarts from the first timeout: if this probe fails (a stream that
        answers reads before it takes writes), the next one comes after 2x the first timeout,
        not after the open time that failures during the outage grew to its cap."""
        if self._state is not CircuitState.OPEN:
            return False
        if self._clock() - self._opened_at < self.first_timeout.total_seconds():
            return False
        self._open_for = self.first_timeout.total_seconds()
        return self.probe_now(cause)

    def _transition(self, event: str, cause: str) -> None:
        source = self._state
        self._fsm.send(event, cause=cause)
        new = self._state = CircuitState(self._fsm.current_state_value)
        self._epoch += 1
        if new is CircuitState.OPEN:
            self._opened_at = self._clock()
            if source is CircuitState.HALF_OPEN:  # a failed probe: wait longer next time
                cap = self.timeout.total_seconds()
                self._open_for = min(cap, self._open_for * OPEN_TIMEOUT_GROWTH)
        self._successes = 0
        if new is CircuitState.CLOSED:
            self._failures = 0
            self._open_for = self.first_timeout.total_seconds()
        for listener in self._listeners:
            listener(new)

    def before_call(self) -> Admission:
        """Admit a call or raise CircuitBreakerOpen; the Admission goes back to exactly one of
        `after_success`, `after_failure` or `release`.

        This lets a hot path use the breaker without an extra coroutine layer. No lock: between
        awaits the event loop runs this atomically.
        """
        if self._state is CircuitState.CLOSED:
            admission = self._closed_admission
            if admission.epoch != self._epoch:
                admission = self._closed_admission = Admission(self._epoch)
            return admission
        if self.state is CircuitState.OPEN:
            raise CircuitBreakerOpen(self.retry_after())
        if self._probe_in_flight:
            raise CircuitBreakerOpen(0.0)
        self._probe_in_flight = True
        return Admission(self._epoch, probe=True)

    def release(self, admission: Admission) -> None:
        """The call ended without a verdict (cancelled): free the probe slot, count nothing."""
        if admission.probe:
            self._probe_in_flight = False

    def after_success(self, admission: Admission) -> None:
        self.release(admission)
        if admission.epoch == self._epoch and (admission.probe or self._failures):
            self._on_success()

    def after_failure(self, error: BaseException, admission: Admission) -> None:
        self.release(admission)
        if admission.epoch == self._epoch and not self._excluded(error):
            self._on_failure(error)

    async def call(self, func: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """Call through unless open; only one probe runs at a time while half-open."""
        admission = self.before_call()
        try:
            result = await func(*args, **kwargs)
        except Exception as error:
            self.after_failure(error, admission)
            raise
        except BaseException:  # cancelled (or the loop is exiting): no verdict, but free the probe
            self.release(admission)
            raise
        self.after_success(admission)
        return result

    def _on_failure(self, error: BaseException) -> None:
        current = self._state
        if current is CircuitState.HALF_OPEN:
            self._transition("trip", f"probe failed: {error!r}")
            return
        if current is CircuitState.OPEN:
            return
        self._failures += 1
        if self._failures >= self.failure_threshold:
            self._transition("trip", f"{self._failures} consecutive failures, last {error!r}")

    def _on_success(self) -> None:
        current = self._state
        if current is CircuitState.HALF_OPEN:
            self._successes += 1
            if self._successes >= self.success_threshold:
                self._transition("reset", f"{self._successes} successful probes")
        elif current is CircuitState.CLOSED:
            self._failures = 0
