"""The transitions checker reads the link FSM and breaker from /metrics samples, and can fail."""

from __future__ import annotations

import pytest

from harness.checker import affected_servers, transitions
from harness.metrics_probe import parse_prometheus

from .builders import HistoryBuilder

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
"""


def test_parse_prometheus_reads_one_hot_states_and_counters() -> None:
    sample = parse_prometheus(EXPOSITION)
    assert sample.connection_state == "reconnecting"
    assert sample.breaker_state == "open"
    assert (sample.reconnects, sample.dlq_depth, sample.dead_lettered) == (3.0, 7.0, 7.0)
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
