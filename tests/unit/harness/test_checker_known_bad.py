"""A checker that says "valid" must have been able to say "invalid" on this very input.

Every registered checker has a known-bad history here, the smallest run of the kind it exists
to refuse, and a matching good one it accepts. A new checker without a known-bad history fails
the registry test, so none can join that only ever says yes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.checker import CHECKERS, run_checks
from harness.cluster.ops import W
from harness.history import F, Op
from tests.unit.harness.builders import HistoryBuilder, dlq_entry
from tests.unit.harness.cluster_histories import alias_case, rate_case, rooms_case, sessions_case

Case = tuple[dict[str, Any], list[Op], list[dict[str, Any]]]
TEST: dict[str, Any] = {"name": "known-bad", "echo_to_sender": False}


def _pair() -> HistoryBuilder:
    return HistoryBuilder().connect(0.0, "alice", "bob")


def delivery(bad: bool) -> Case:
    b = _pair()
    b.say(1.0, "alice", 1)
    if not bad:
        b.recv(1.1, "bob", "alice", 1)
    return TEST, b.drain(5.0).ops, []


def duplicates(bad: bool) -> Case:
    b = _pair()
    b.say(1.0, "alice", 1)
    b.recv(1.1, "bob", "alice", 1)
    if bad:
        b.recv(1.2, "bob", "alice", 1)
    return TEST, b.drain(5.0).ops, []


def ordering(bad: bool) -> Case:
    b = _pair()
    b.say(1.0, "alice", 1)
    b.say(1.5, "alice", 2)
    first, second = (2, 1) if bad else (1, 2)
    b.recv(2.0, "bob", "alice", first).recv(2.1, "bob", "alice", second)
    return TEST, b.drain(5.0).ops, []


def recovery(bad: bool) -> Case:
    b = _pair().fault(1.0, 2.0)
    b.say(2.5, "alice", 1)
    b.recv(8.0 if bad else 2.6, "bob", "alice", 1)  # 6 s after the heal: over the 5 s spec
    return TEST, b.drain(10.0).ops, []


def failover(bad: bool) -> Case:
    b = _pair().fault(1.0, 6.0, name="kill_nats_leader", params={"stream": "MYTHOS_CHAT"})
    b.say(1.5, "alice", 1)
    if not bad:  # bad: nothing said after the kill ever came back (the servers never failed over)
        b.recv(2.5, "bob", "alice", 1)
    return TEST, b.drain(8.0).ops, []


def acceptance(bad: bool) -> Case:
    b = _pair().fault(1.0, 3.0)
    b.say(1.5, "alice", 1, "fail", queued=not bad, error="chat_unavailable")
    b.say(4.0, "alice", 2)
    b.recv(4.1, "bob", "alice", 2)
    return TEST, b.drain(6.0).ops, []


def availability(bad: bool) -> Case:
    b = HistoryBuilder().fault(1.0, 3.0).probe(2.0, "fail" if bad else "ok")
    return TEST, b.ops, []


def steady_state(bad: bool) -> Case:
    return TEST, HistoryBuilder().steady(1.0, True).steady(9.0, not bad, phase="after").ops, []


def transitions(bad: bool) -> Case:
    b = HistoryBuilder().metrics(0.5, "connected").fault(1.0, 3.0)
    b.metrics(2.0, "connected" if bad else "reconnecting")  # a partition the FSM never saw
    return TEST, b.metrics(3.5, "connected").ops, []


def _queued_and_replayed(lands: bool, leaves_entry: bool) -> HistoryBuilder:
    b = _pair()
    b.say(1.0, "alice", 1, "fail", queued=True)
    b.drain(3.0).replay(4.0, replayed=1)
    if lands:
        b.recv(4.2, "bob", "alice", 1)
    b.dlq_read(5.0, [dlq_entry("alice", 1)] if leaves_entry else [])
    return b.replay(5.5, round_=2).disconnect(8.0, "alice").disconnect(8.0, "bob")


def replay(bad: bool) -> Case:
    return TEST, _queued_and_replayed(lands=not bad, leaves_entry=False).ops, [dlq_entry("alice", 1)]


def replay_settled(bad: bool) -> Case:
    return TEST, _queued_and_replayed(lands=True, leaves_entry=bad).ops, [dlq_entry("alice", 1)]


def latency(bad: bool) -> Case:
    b = _pair()
    b.say(1.0, "alice", 1)
    b.recv(0.5 if bad else 1.1, "bob", "alice", 1)  # received before it was said
    return TEST, b.drain(5.0).ops, []


def timeline(bad: bool) -> Case:
    b = _pair()
    b.say(1.0, "alice", 1)
    b.recv(1.1, "bob", "alice", 1)
    if bad:
        b.recv(1.2, "bob", "alice", 9)  # a line nobody said
    return TEST, b.drain(5.0).ops, []


def outbox(bad: bool) -> Case:
    """A line queued during a partition: the good run's server sends it after the heal, the bad
    one leaves it for an operator's replay."""
    b = HistoryBuilder().connect(0.0, "alice", "bob")
    b.fault(1.0, 3.0)
    b.say(2.0, "alice", 1, "fail", queued=True)
    if not bad:
        b.recv(3.4, "bob", "alice", 1)
    return TEST, b.drain(6.0).ops, [dlq_entry("alice", 1)] if bad else []


def alerts(bad: bool) -> Case:
    """A 10 s partition of mythos-0's link: the good run's Prometheus fired the link and DLQ-growth
    alerts and let them go; the bad one never fired the link alert."""
    b = HistoryBuilder().fault(5.0, 15.0)
    b.op(0.5, "ok", "prometheus", F.ALERTS, {"phase": "start", "targets": {"mythos-0": "127.0.0.1:1"}})
    fired = [{"alert": "MythosDlqGrowing", "server": "mythos-0"}]
    if not bad:
        fired.append({"alert": "MythosNatsLinkDown", "server": "mythos-0"})
    b.op(9.0, "ok", "prometheus", F.ALERTS, {"phase": "run", "firing": fired, "pending": []})
    b.op(20.0, "ok", "prometheus", F.ALERTS, {"phase": "run", "firing": [], "pending": []})
    b.op(21.0, "ok", "prometheus", F.ALERTS, {"phase": "end", "errors": 0, "scrapes": {"mythos-0": 20}})
    return TEST, b.ops, []


KNOWN_BAD: dict[str, Callable[[bool], Case]] = {
    "delivery": delivery, "duplicates": duplicates, "ordering": ordering, "recovery": recovery,
    "failover": failover, "acceptance": acceptance, "availability": availability, "steady_state": steady_state,
    "transitions": transitions, "replay": replay, "replay_settled": replay_settled,
    "latency": latency, "timeline": timeline, "alerts": alerts, "outbox": outbox,
    # The one-world checkers (harness.cluster.checks); their histories are in cluster_histories.py.
    "sessions": sessions_case, "alias_propagation": alias_case, "rate_budget": rate_case, "rooms": rooms_case,
}


def test_every_checker_has_a_known_bad_history() -> None:
    assert set(KNOWN_BAD) == set(CHECKERS)


@pytest.mark.parametrize("name", sorted(KNOWN_BAD))
def test_the_known_bad_history_is_refused_and_its_good_twin_accepted(name: str) -> None:
    test, ops, dlq = KNOWN_BAD[name](True)
    bad = run_checks(test, ops, dlq, names=[name])[name]
    assert bad["valid"] is False, bad
    test, ops, dlq = KNOWN_BAD[name](False)
    good = run_checks(test, ops, dlq, names=[name])[name]
    assert good["valid"] is True, good


def test_the_known_bad_histories_use_the_recorded_vocabulary() -> None:
    known = {v for vocabulary in (F, W) for k, v in vars(vocabulary).items() if k.isupper()}
    for build in KNOWN_BAD.values():
        _, ops, _ = build(True)
        assert {op.f for op in ops} <= known
