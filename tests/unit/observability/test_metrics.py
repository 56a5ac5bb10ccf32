"""MetricsCollector: JSON snapshot and Prometheus text from a per-instance registry."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from mythos.observability.metrics import MetricsCollector
from mythos.realtime.circuit_breaker import CircuitState
from mythos.realtime.connection_state_machine import ConnectionState


def samples(metrics: MetricsCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render_prometheus().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_counts_per_channel_in_json_and_prometheus() -> None:
    metrics = MetricsCollector()
    for channel in ["say", "say", "emote"]:
        metrics.record_message_processed(channel)
    metrics.record_message_failed("say")
    metrics.record_message_dlq("whisper")
    nats = metrics.get_metrics()["nats"]
    # The spec's shape: messages_processed / _failed / _dlq map channel -> count.
    assert nats["messages_processed"] == {"say": 2, "emote": 1}
    assert nats["messages_failed"] == {"say": 1}
    assert nats["messages_dlq"] == {"whisper": 1}
    totals = (nats["messages_processed_total"], nats["messages_failed_total"], nats["messages_dlq_total"])
    assert totals == (3, 1, 1)
    s = samples(metrics)
    assert s[("mythos_nats_messages_processed_total", (("channel", "say"),))] == 2
    assert s[("mythos_nats_messages_failed_total", (("channel", "say"),))] == 1
    assert s[("mythos_nats_messages_dead_lettered_total", (("channel", "whisper"),))] == 1


def test_states_are_one_hot() -> None:
    metrics = MetricsCollector()
    metrics.set_circuit_breaker_state(CircuitState.OPEN)
    metrics.set_connection_state(ConnectionState.RECONNECTING)
    s = samples(metrics)
    breaker = {dict(k[1])["state"]: v for k, v in s.items() if k[0] == "mythos_nats_circuit_breaker_state"}
    link = {dict(k[1])["state"]: v for k, v in s.items() if k[0] == "mythos_nats_connection_state"}
    assert breaker == {"closed": 0, "open": 1, "half_open": 0}
    assert link["reconnecting"] == 1 and sum(link.values()) == 1
    nats = metrics.get_metrics()["nats"]
    assert (nats["circuit_breaker_state"], nats["connection_state"]) == ("open", "reconnecting")


def test_breaker_transitions_are_counted_so_a_short_half_open_is_not_missed() -> None:
    metrics = MetricsCollector()
    for state in (CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.OPEN, CircuitState.HALF_OPEN,
                  CircuitState.CLOSED, CircuitState.CLOSED):
        metrics.set_circuit_breaker_state(state)
    s = samples(metrics)
    counts = {(dict(k[1])["source"], dict(k[1])["target"]): v for k, v in s.items()
              if k[0] == "mythos_nats_circuit_breaker_transitions_total"}
    assert counts == {("closed", "open"): 1, ("open", "half_open"): 2, ("half_open", "open"): 1,
                      ("half_open", "closed"): 1}


def test_reconnects_dlq_depth_and_latency() -> None:
    metrics = MetricsCollector()
    metrics.record_reconnect()
    metrics.record_reconnect()
    metrics.set_dlq_depth(7)
    metrics.observe_publish_latency(0.002)
    metrics.observe_publish_latency(0.004)
    nats = metrics.get_metrics()["nats"]
    assert (nats["reconnects"], nats["dlq_depth"], nats["publish_count"]) == (2, 7, 2)
    assert abs(nats["publish_latency_avg_ms"] - 3.0) < 1e-9
    s = samples(metrics)
    assert s[("mythos_nats_reconnects_total", ())] == 2
    assert s[("mythos_nats_dlq_depth", ())] == 7
    assert s[("mythos_nats_publish_latency_seconds_count", ())] == 2
    assert s[("mythos_nats_publish_latency_seconds_bucket", (("le", "0.0025"),))] == 1


def test_collectors_do_not_share_a_registry() -> None:
    a, b = MetricsCollector(), MetricsCollector()
    a.record_message_processed("say")
    assert b.get_metrics()["nats"]["messages_processed"] == {}
    assert b'channel="say"' not in b.render_prometheus()


def test_snapshot_has_timestamp() -> None:
    snapshot = MetricsCollector().get_metrics()
    assert set(snapshot) == {"nats", "timestamp"}
    assert snapshot["timestamp"].endswith("+00:00")
