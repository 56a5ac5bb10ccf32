"""Every transition of the NATS link FSM, refusal of illegal ones, logging with cause, observers."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from mythos.observability.metrics import MetricsCollector
from mythos.realtime.connection_state_machine import (
    ConnectionState,
    NATSConnectionStateMachine,
    Transition,
    metrics_observer,
)

D, CG, C, R, OPEN_ = (
    ConnectionState.DISCONNECTED,
    ConnectionState.CONNECTING,
    ConnectionState.CONNECTED,
    ConnectionState.RECONNECTING,
    ConnectionState.CIRCUIT_OPEN,
)

# (path of events from the initial state to reach `source`, event, expected target)
LEGAL: list[tuple[list[str], str, ConnectionState]] = [
    ([], "start", CG),
    (["start", "established", "lost"], "start", CG),
    (["start"], "established", C),
    (["start", "established", "lost"], "established", C),
    (["start"], "connect_failed", R),
    (["start", "established"], "lost", R),
    (["start", "established", "breaker_opened"], "lost", R),
    (["start", "established"], "breaker_opened", OPEN_),
    (["start", "established", "breaker_opened"], "breaker_closed", C),
    (["start"], "closed", D),
    (["start", "established"], "closed", D),
    (["start", "established", "lost"], "closed", D),
    (["start", "established", "breaker_opened"], "closed", D),
]
EVENTS = ["start", "established", "connect_failed", "lost", "breaker_opened", "breaker_closed", "closed"]


def drive(path: list[str]) -> NATSConnectionStateMachine:
    fsm = NATSConnectionStateMachine("test")
    for event in path:
        assert fsm.fire(event, "setup"), event
    return fsm


@pytest.mark.parametrize(("path", "event", "target"), LEGAL)
def test_every_legal_transition(path: list[str], event: str, target: ConnectionState) -> None:
    fsm = drive(path)
    source = fsm.state
    seen: list[Transition] = []
    fsm.add_observer(seen.append)
    with capture_logs() as logs:
        assert fsm.fire(event, "because") is True
    assert fsm.state is target
    assert [(t.event, t.source, t.target, t.cause) for t in seen] == [(event, source, target, "because")]
    assert logs[-1]["event"] == "nats_link_transition"
    assert (logs[-1]["trigger"], logs[-1]["source"], logs[-1]["target"], logs[-1]["cause"]) == (
        event,
        source.value,
        target.value,
        "because",
    )


def _reach(state: ConnectionState) -> list[str]:
    return {
        D: [],
        CG: ["start"],
        C: ["start", "established"],
        R: ["start", "established", "lost"],
        OPEN_: ["start", "established", "breaker_opened"],
    }[state]


LEGAL_PAIRS = {(drive(path).state, event) for path, event, _ in LEGAL}
ILLEGAL = [(state, event) for state in ConnectionState for event in EVENTS if (state, event) not in LEGAL_PAIRS]


@pytest.mark.parametrize(("state", "event"), ILLEGAL)
def test_illegal_events_are_refused_and_logged(state: ConnectionState, event: str) -> None:
    fsm = drive(_reach(state))
    seen: list[Transition] = []
    fsm.add_observer(seen.append)
    with capture_logs() as logs:
        assert fsm.fire(event, "late callback") is False
    assert fsm.state is state
    assert seen == []
    assert logs[-1]["event"] == "nats_link_event_ignored"


def test_the_table_covers_every_state_and_event_pair() -> None:
    assert len(LEGAL_PAIRS) == len(LEGAL)  # no duplicate rows
    assert len(ILLEGAL) == len(ConnectionState) * len(EVENTS) - len(LEGAL)
    assert {s for s, _ in LEGAL_PAIRS} == set(ConnectionState)


def test_can_and_history() -> None:
    fsm = NATSConnectionStateMachine()
    assert fsm.can("start") and not fsm.can("lost")
    fsm.fire("start", "a")
    fsm.fire("established", "b")
    assert [(t.source, t.target) for t in fsm.history] == [(D, CG), (CG, C)]


def test_metrics_observer_exports_state_and_counts_reconnects() -> None:
    metrics = MetricsCollector()
    fsm = NATSConnectionStateMachine()
    fsm.add_observer(metrics_observer(metrics))
    for event in ["start", "established", "lost", "established", "lost", "start", "established"]:
        fsm.fire(event)
    snapshot = metrics.get_metrics()["nats"]
    assert snapshot["connection_state"] == "connected"
    assert snapshot["reconnects"] == 2  # one by nats-py, one through a fresh connection
    fsm.fire("breaker_opened")
    assert metrics.get_metrics()["nats"]["connection_state"] == "circuit_open"
