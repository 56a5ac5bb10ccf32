"""The server's NATS link as a python-statemachine FSM.

nats-py's callbacks (disconnected_cb, reconnected_cb, closed_cb, error_cb) and the breaker feed
events into `NATSConnectionStateMachine`; every transition is logged with its cause and passed to
observers (metrics). Callbacks can arrive late or twice, so `fire` refuses an illegal transition
with a log line instead of raising into nats-py's reader task.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from statemachine import State, StateMachine
from statemachine.exceptions import TransitionNotAllowed

from mythos.observability.logging import get_logger

__all__ = ["ConnectionState", "LinkFSM", "NATSConnectionStateMachine", "Transition", "metrics_observer"]

log = get_logger(__name__)


class ConnectionState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CIRCUIT_OPEN = "circuit_open"


class LinkFSM(StateMachine):
    """Legal transitions of the link. Events are named after what happened, not the target."""

    disconnected = State(initial=True, value=ConnectionState.DISCONNECTED.value)
    connecting = State(value=ConnectionState.CONNECTING.value)
    connected = State(value=ConnectionState.CONNECTED.value)
    reconnecting = State(value=ConnectionState.RECONNECTING.value)
    circuit_open = State(value=ConnectionState.CIRCUIT_OPEN.value)

    # our supervisor begins a fresh connection (first start, or after a give-up / watchdog)
    start = disconnected.to(connecting) | reconnecting.to(connecting)
    # the server answered: first connect or nats-py's reconnected_cb
    established = connecting.to(connected) | reconnecting.to(connected)
    # a fresh connect attempt failed; back off, then `start` again
    connect_failed = connecting.to(reconnecting)
    # disconnected_cb: the transport dropped, nats-py (or we) will try again
    lost = connected.to(reconnecting) | circuit_open.to(reconnecting)
    # the circuit breaker opened / closed while the transport is up
    breaker_opened = connected.to(circuit_open)
    breaker_closed = circuit_open.to(connected)
    # closed_cb or an explicit stop
    closed = (
        connecting.to(disconnected)
        | connected.to(disconnected)
        | reconnecting.to(disconnected)
        | circuit_open.to(disconnected)
    )


@dataclass(frozen=True, slots=True)
class Transition:
    event: str
    source: ConnectionState
    target: ConnectionState
    cause: str
    at: float


Observer = Callable[[Transition], None]


class NATSConnectionStateMachine:
    """Wraps LinkFSM with cause logging, observers and a tolerant `fire`."""

    def __init__(self, name: str = "nats", clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._fsm = LinkFSM()
        self._observers: list[Observer] = []
        self._clock = clock
        self.history: list[Transition] = []
        self.entered_at = clock()

    @property
    def state(self) -> ConnectionState:
        return ConnectionState(self._fsm.current_state_value)

    def add_observer(self, observer: Observer) -> None:
        self._observers.append(observer)

    def can(self, event: str) -> bool:
        return any(e.id == event for e in self._fsm.allowed_events)

    def fire(self, event: str, cause: str = "") -> bool:
        """Apply `event`; returns False (and logs) when the current state does not allow it."""
        source = self.state
        try:
            self._fsm.send(event)
        except TransitionNotAllowed:
            log.info("nats_link_event_ignored", link=self.name, trigger=event, state=source.value, cause=cause)
            return False
        now = self._clock()
        transition = Transition(event, source, self.state, cause, now)
        self.entered_at = now
        self.history = [*self.history[-99:], transition]
        log.info(
            "nats_link_transition",
            link=self.name,
            trigger=event,
            source=source.value,
            target=transition.target.value,
            cause=cause,
        )
        for observer in self._observers:
            observer(transition)
        return True


class MetricsSink(Protocol):
    """The part of MetricsCollector the observer needs."""

    def set_connection_state(self, state: object) -> None: ...
    def record_reconnect(self) -> None: ...


def metrics_observer(metrics: MetricsSink) -> Observer:
    """Export the state, and count a reconnect whenever the link comes back after a loss,
    whether nats-py reconnected or the supervisor had to start a fresh connection."""
    lost = False

    def observe(transition: Transition) -> None:
        nonlocal lost
        metrics.set_connection_state(transition.target)
        if transition.target is ConnectionState.RECONNECTING:
            lost = True
        elif transition.event == "established" and lost:
            lost = False
            metrics.record_reconnect()

    return observe
