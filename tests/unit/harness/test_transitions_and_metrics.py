"""The transitions checker reads the link FSM and breaker from /metrics samples, and can fail."""

from __future__ import annotations

import pytest

from harness.checker import affected_servers, replay, run_checks, transitions
from harness.history import F
from harness.metrics_probe import parse_prometheus
from tests.unit.harness.builders import HistoryBuilder

EXPOSITION = """# HELP mythos_nats_connection_state 1 for the NATS link's current state
# TYPE mythos_nats_connection_state gauge
mythos_nats_connection_state{state="connected"} 0.0
mythos_nats_connection_state{state="reconnecting"} 1.0
# TYPE mythos_nats_circuit_breaker_state gauge
mythos_nats_circuit_breaker_state{state="closed"} 0.0
mythos_nats_circuit_breaker_state{state="open"} 1.0
# TYPE mythos_nats_reconnects counter
mythos_nats_reconnects_total 3.0
# TYPE mythos_nats_dlq_depth gauge
mythos_nats_dlq_depth 7.0
# TYPE mythos_nats_messages_dead_lettered counter
mythos_nats_messages_dead_lettered_total{channel="say"} 5.0
mythos_nats_messages_dead_lettered_total{channel="emote"} 2.0
# TYPE mythos_nats_circuit_breaker_transitions counter
mythos_nats_circuit_breaker_transitions_total{source="closed",target="open"} 1.0
mythos_nats_circuit_breaker_transitions_total{source="open",target="half_open"} 2.0
"""


def test_parse_prometheus_reads_one_hot_states_and_counters() -> None:
    sample = parse_prometheus(EXPOSITION)
    assert sample.connection_state == "reconnecting"
    assert sample.breaker_state == "open"
    assert (sample.reconnects, sample.dlq_depth, sample.dead_lettered) == (3.0, 7.0, 7.0)
    assert sample.breaker_transitions == {"closed->open": 1.0, "open->half_open": 2.0}
    assert sample.to_dict()["breaker_transitions"] == {"closed->open": 1.0, "open->half_open": 2.0}
    assert not sample.steady


def test_parse_prometheus_without_nats_metrics_is_not_steady() -> None:
    sample = parse_prometheus("# nothing here\n")
    assert sample.connection_state is None
    assert not sample.steady


def partition_run(*, leaves: bool, ends: str = "connected", breaker_end: str = "closed") -> HistoryBuilder:
    b = HistoryBuilder().metrics(1.0, "connected").fault(2.0, 6.0)
    b.metrics(3.0, "reconnecting" if leaves else "connected", breaker="open" if leaves else "closed")
    b.metrics(6.5, "connected", reconnects=1.0 if leaves else 0.0)
    return b.metrics(9.0, ends, breaker=breaker_end, reconnects=1.0 if leaves else 0.0).drain(9.5)


def test_a_partition_seen_by_the_fsm_and_healed_is_valid() -> None:
    result = transitions({}, partition_run(leaves=True).ops, [])
    assert result["valid"] is True, result["problems"]
    row = result["windows"][0]
    assert row["link_path"] == ["connected", "reconnecting", "connected"]
    assert row["fsm_recovery_s"] == pytest.approx(0.5)
    assert result["breaker_opened"] == ["mythos-0"]


def test_a_partition_the_fsm_never_noticed_is_invalid() -> None:
    result = transitions({}, partition_run(leaves=False).ops, [])
    assert result["valid"] is False
    assert any("never left connected" in p for p in result["problems"])


def test_a_reconnect_counted_between_samples_counts_as_noticed() -> None:
    b = HistoryBuilder().metrics(1.0, "connected").fault(2.0, 3.0)
    b.metrics(3.5, "connected", reconnects=1.0).drain(4.0)
    assert transitions({}, b.ops, [])["valid"] is True


@pytest.mark.parametrize(("ends", "breaker"), [("reconnecting", "closed"), ("connected", "open")])
def test_a_server_that_ends_unsteady_is_invalid(ends: str, breaker: str) -> None:
    result = transitions({}, partition_run(leaves=True, ends=ends, breaker_end=breaker).ops, [])
    assert result["valid"] is False
    assert any("ended" in p for p in result["problems"])


def test_latency_need_not_break_the_link() -> None:
    b = HistoryBuilder().metrics(1.0, "connected").fault(2.0, 6.0, name="latency")
    b.metrics(4.0, "connected").metrics(7.0, "connected").drain(8.0)
    assert transitions({}, b.ops, [])["valid"] is True


def test_no_samples_is_unknown_not_a_pass() -> None:
    b = HistoryBuilder().fault(2.0, 6.0).drain(8.0)
    assert transitions({}, b.ops, [])["valid"] == "unknown"


def test_affected_servers_follow_the_link_or_the_nats_service() -> None:
    servers = ["mythos-0", "mythos-1"]
    assert affected_servers({"fault": "partition", "params": {"link": "nats-1"}}, servers) == ["mythos-1"]
    assert affected_servers({"fault": "kill_nats", "params": {}}, servers) == servers
    assert affected_servers({"fault": "partition", "params": {"link": "client-0"}}, servers) == []


def refused_then_replayed(*, lands: bool) -> HistoryBuilder:
    b = HistoryBuilder().connect(0.0, "alice", "bob")
    b.say(1.0, "alice", 1)
    b.recv(1.1, "alice", "alice", 1).recv(1.1, "bob", "alice", 1)
    b.say(2.0, "alice", 2, outcome="fail")  # refused during the fault: queued in the DLQ
    b.say(3.0, "alice", 3)
    b.recv(3.1, "alice", "alice", 3).recv(3.1, "bob", "alice", 3).drain(5.0)
    b.op(6.0, "invoke", "admin", F.REPLAY, {"server": "mythos-0"})
    b.op(6.2, "ok", "admin", F.REPLAY, {"server": "mythos-0", "replayed": 1, "pending": 0})
    if lands:
        b.recv(6.3, "alice", "alice", 2).recv(6.3, "bob", "alice", 2)
    return b.disconnect(9.0, "alice").disconnect(9.0, "bob")  # teardown after the replay


DLQ = [{"message_data": {"content": "msg_alice_2"}}]


def test_a_replayed_line_that_reaches_everyone_is_valid_and_not_reordered() -> None:
    b = refused_then_replayed(lands=True)
    checks = run_checks({"echo_to_sender": True}, b.ops, DLQ, names=["replay", "ordering"])
    assert checks["replay"]["valid"] is True and checks["replay"]["dlq_replayed"] == 1.0
    assert checks["ordering"]["valid"] is True  # a refused line arriving late is not a reorder


def test_a_replayed_line_that_never_lands_is_invalid() -> None:
    result = replay({"echo_to_sender": True}, refused_then_replayed(lands=False).ops, DLQ)
    assert result["valid"] is False and result["dlq_replayed"] == 0.0
    assert result["not_replayed"][0]["token"] == "msg_alice_2"


def test_a_dlq_never_replayed_is_unknown_and_an_empty_one_is_vacuous() -> None:
    b = HistoryBuilder().connect(0.0, "alice").drain(5.0)
    assert replay({}, b.ops, DLQ)["valid"] == "unknown"
    assert replay({}, b.ops, [])["valid"] is True
