"""NATS error-boundary metrics: a JSON snapshot for the admin API and Prometheus text for scrapers.

Each collector owns its own Prometheus registry, so several app instances (and tests) can live in
one process without clashing on the global default registry. The per-channel message counters
are counted in plain dicts and exported by a custom collector at scrape time: they run once per
chat line, and a prometheus_client child's lock and checks cost more than the handler's own work.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = [
    "BREAKER_STATES", "CLUSTER_KEYS", "CONNECTION_STATES", "HEALTH_STATES", "PROMETHEUS_CONTENT_TYPE",
    "MetricsCollector",
]

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BREAKER_STATES: tuple[str, ...] = ("closed", "open", "half_open")
CONNECTION_STATES: tuple[str, ...] = (
    "disconnected",
    "connecting",
    "connected",
    "reconnecting",
    "circuit_open",
)
HEALTH_STATES: tuple[str, ...] = ("ok", "degraded", "down")
CLUSTER_KEYS: tuple[str, ...] = (
    "registry_available",
    "cross_server_evictions",
    "registry_unavailable_refusals",
    "session_claims",
    "alias_invalidations_sent",
    "alias_invalidations_received",
    "presence_servers",
)
# Chat over loopback acks in well under a millisecond; the upper buckets catch publishes that retried.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


def _state_name(state: object) -> str:
    """Accept an enum (CircuitState, ConnectionState) or a plain string."""
    return str(getattr(state, "value", state))


class _ChannelCounts:
    """A per-channel counter: the hot path is one dict add; new channels are added under a lock
    so a scrape thread copying the dict never sees it change size."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self.counts: dict[str, int] = {}

    def inc(self, channel: str) -> None:
        try:
            self.counts[channel] += 1
        except KeyError:
            with self._lock:
                self.counts[channel] = self.counts.get(channel, 0) + 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


class _ChannelCollector(Collector):
    """Exports the per-channel (or per-type) counters as Prometheus counters at scrape time."""

    def __init__(self, namespace: str, families: dict[str, tuple[str, _ChannelCounts, str]]) -> None:
        self._namespace = namespace
        self._families = families

    def collect(self) -> Iterator[Metric]:
        for name, (documentation, counts, label) in self._families.items():
            family = CounterMetricFamily(f"{self._namespace}_{name}", documentation, labels=[label])
            for key, value in sorted(counts.snapshot().items()):
                family.add_metric([key], value)
            yield family


class _AuditErrorsCollector(Collector):
    """``<ns>_audit_log_write_errors_total``: the audit logger's failed writes, as last mirrored."""

    def __init__(self, namespace: str, metrics: MetricsCollector) -> None:
        self._name = f"{namespace}_audit_log_write_errors"
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self._name, "Audit log writes that failed (full disk, permissions)",
                                  value=self._metrics._audit_write_errors)


class MetricsCollector:
    """Counts message outcomes per channel and tracks breaker, link and DLQ state."""

    def __init__(self, namespace: str = "mythos") -> None:
        self._lock = threading.Lock()
        self._processed = _ChannelCounts(self._lock)
        self._failed = _ChannelCounts(self._lock)
        self._dlq = _ChannelCounts(self._lock)
        self._refusals = _ChannelCounts(self._lock)
        self._breaker_state = "closed"
        self._connection_state = "disconnected"
        self._reconnects = 0
        self._dlq_depth = 0
        self._publish_count = 0
        self._publish_sum = 0.0
        self.registry = CollectorRegistry(auto_describe=True)
        ns = namespace
        self.registry.register(
            _ChannelCollector(
                ns,
                {
                    "nats_messages_processed": ("Messages delivered to local players", self._processed, "channel"),
                    "nats_messages_failed": ("Message processing attempts that failed", self._failed, "channel"),
                    "nats_messages_dead_lettered": (
                        "Messages written to the dead-letter queue", self._dlq, "channel"),
                    # Counted on every refused command, so one dict add like the chat counters.
                    "command_refusals": ("Commands refused before they ran, by error type", self._refusals, "type"),
                },
            )
        )
        reg = self.registry
        self._p_breaker = Gauge(
            "nats_circuit_breaker_state", "1 for the breaker's current state, 0 for the others", ["state"],
            namespace=ns, registry=reg,
        )  # fmt: skip
        self._p_connection = Gauge(
            "nats_connection_state", "1 for the NATS link's current state, 0 for the others", ["state"],
            namespace=ns, registry=reg,
        )  # fmt: skip
        # A half-open breaker may close within milliseconds, between two scrapes of the one-hot
        # gauge; counting transitions lets a scraper prove every step of the cycle happened.
        self._p_breaker_transitions = PromCounter(
            "nats_circuit_breaker_transitions", "Circuit breaker state changes", ["source", "target"],
            namespace=ns, registry=reg,
        )  # fmt: skip
        self._p_reconnects = PromCounter(
            "nats_reconnects", "Times the NATS link came back after a loss", namespace=ns, registry=reg
        )
        self._p_dlq_depth = Gauge(
            "nats_dlq_depth", "Entries waiting in the dead-letter queue", namespace=ns, registry=reg
        )
        self._p_audit_healthy = Gauge(
            "audit_log_healthy", "1 while the audit log's last write succeeded, 0 after a failed write",
            namespace=ns, registry=reg,
        )  # fmt: skip
        # The audit logger counts its failed writes itself; exported as a counter so that rules
        # read it with increase() (a restart starts it at 0 again, which increase() handles).
        self._audit_write_errors = 0
        self.registry.register(_AuditErrorsCollector(ns, self))
        self._p_audit_healthy.set(1)
        self._p_health = Gauge(
            "health_state", "1 for what GET /api/health says now (ok, degraded, down), 0 for the others",
            ["state"], namespace=ns, registry=reg,
        )  # fmt: skip
        self._set_one_hot(self._p_health, HEALTH_STATES, "ok")
        self._p_connections = Gauge(
            "connections", "Open player connections (WebSocket and SSE) on this server", namespace=ns, registry=reg
        )
        self._p_latency = Histogram(
            "nats_publish_latency_seconds", "Time from publish call to server acknowledgement",
            namespace=ns, registry=reg, buckets=LATENCY_BUCKETS,
        )  # fmt: skip
        self._set_one_hot(self._p_breaker, BREAKER_STATES, self._breaker_state)
        self._set_one_hot(self._p_connection, CONNECTION_STATES, self._connection_state)
        # Several servers as one world (CLUSTER_SESSIONS): the session registry, presence and
        # alias invalidation. Exported beside the spec's keys, never inside them.
        self._cluster: dict[str, float] = dict.fromkeys(CLUSTER_KEYS, 0)
        self._p_registry_available = Gauge(
            "cluster_session_registry_available",
            "1 while the session registry can admit new sessions (NATS up, watch in sync)",
            namespace=ns, registry=reg,
        )  # fmt: skip
        self._p_cluster_evictions = PromCounter(
            "cluster_cross_server_evictions", "Local sessions evicted because another server took the player",
            namespace=ns, registry=reg,
        )  # fmt: skip
        self._p_registry_refusals = PromCounter(
            "cluster_registry_unavailable_refusals",
            "New sessions refused because the session registry could not be reached",
            namespace=ns, registry=reg,
        )  # fmt: skip
        self._p_registry_claims = PromCounter(
            "cluster_session_claims", "Sessions written to the registry", namespace=ns, registry=reg
        )
        self._p_alias_invalidations = PromCounter(
            "cluster_alias_invalidations", "Alias cache invalidations", ["direction"], namespace=ns, registry=reg
        )
        self._p_presence_servers = Gauge(
            "cluster_presence_servers", "Servers whose presence is live, this one included",
            namespace=ns, registry=reg,
        )  # fmt: skip

    @staticmethod
    def _set_one_hot(gauge: Gauge, states: tuple[str, ...], current: str) -> None:
        names = states if current in states else (*states, current)
        for name in names:
            gauge.labels(state=name).set(1.0 if name == current else 0.0)

    def record_message_processed(self, channel: str) -> None:
        self._processed.inc(channel)

    def record_message_failed(self, channel: str) -> None:
        self._failed.inc(channel)

    def record_message_dlq(self, channel: str) -> None:
        self._dlq.inc(channel)

    def set_circuit_breaker_state(self, state: object) -> None:
        name = _state_name(state)
        with self._lock:
            previous, self._breaker_state = self._breaker_state, name
        if previous != name:
            self._p_breaker_transitions.labels(source=previous, target=name).inc()
        self._set_one_hot(self._p_breaker, BREAKER_STATES, name)

    def set_connection_state(self, state: object) -> None:
        name = _state_name(state)
        with self._lock:
            self._connection_state = name
        self._set_one_hot(self._p_connection, CONNECTION_STATES, name)

    def record_reconnect(self) -> None:
        with self._lock:
            self._reconnects += 1
        self._p_reconnects.inc()

    def set_dlq_depth(self, depth: int) -> None:
        with self._lock:
            self._dlq_depth = depth
        self._p_dlq_depth.set(depth)

    def record_refusal(self, error_type: str) -> None:
        """A command refused before it ran (rate limit, validation, alias checks, database down)."""
        self._refusals.inc(error_type)

    def set_health(self, status: str, connections: int) -> None:
        """Mirror GET /api/health's overall status and connection count at scrape time."""
        self._set_one_hot(self._p_health, HEALTH_STATES, status)
        self._p_connections.set(connections)

    def set_audit_status(self, status: dict[str, Any]) -> None:
        """Mirror the audit logger's own status (AuditLogger.status()) at scrape time."""
        self._p_audit_healthy.set(1 if status.get("healthy") else 0)
        self._audit_write_errors = int(status.get("write_errors") or 0)

    def observe_publish_latency(self, seconds: float) -> None:
        with self._lock:
            self._publish_count += 1
            self._publish_sum += seconds
        self._p_latency.observe(seconds)

    # -- cluster (several servers as one world) ---------------------------------------------------

    def set_registry_available(self, available: bool) -> None:
        with self._lock:
            self._cluster["registry_available"] = 1 if available else 0
        self._p_registry_available.set(1 if available else 0)

    def record_cross_server_eviction(self) -> None:
        with self._lock:
            self._cluster["cross_server_evictions"] += 1
        self._p_cluster_evictions.inc()

    def record_registry_refusal(self) -> None:
        with self._lock:
            self._cluster["registry_unavailable_refusals"] += 1
        self._p_registry_refusals.inc()

    def record_session_claim(self) -> None:
        with self._lock:
            self._cluster["session_claims"] += 1
        self._p_registry_claims.inc()

    def record_alias_invalidation(self, direction: str) -> None:
        """`direction` is "sent" or "received"."""
        key = f"alias_invalidations_{direction}"
        with self._lock:
            self._cluster[key] = self._cluster.get(key, 0) + 1
        self._p_alias_invalidations.labels(direction=direction).inc()

    def set_presence_servers(self, count: int) -> None:
        with self._lock:
            self._cluster["presence_servers"] = count
        self._p_presence_servers.set(count)

    def get_cluster_metrics(self) -> dict[str, float]:
        """The cluster figures as JSON (kept out of `get_metrics`, whose shape is the spec's)."""
        with self._lock:
            return dict(self._cluster)

    def get_metrics(self) -> dict[str, Any]:
        """The JSON shape served at GET /api/metrics (docs/metrics.md)."""
        processed, failed, dlq = self._processed.snapshot(), self._failed.snapshot(), self._dlq.snapshot()
        with self._lock:
            nats = {
                # The spec's shape: maps channel -> count; the totals sit beside them.
                "messages_processed": processed,
                "messages_failed": failed,
                "messages_dlq": dlq,
                "messages_processed_total": sum(processed.values()),
                "messages_failed_total": sum(failed.values()),
                "messages_dlq_total": sum(dlq.values()),
                "circuit_breaker_state": self._breaker_state,
                "connection_state": self._connection_state,
                "reconnects": self._reconnects,
                "dlq_depth": self._dlq_depth,
                "publish_count": self._publish_count,
                "publish_latency_avg_ms": (
                    1000.0 * self._publish_sum / self._publish_count if self._publish_count else 0.0
                ),
            }
        return {"nats": nats, "timestamp": datetime.now(UTC).isoformat()}

    def render_prometheus(self) -> bytes:
        """Prometheus text exposition of this collector's registry, for GET /metrics."""
        return generate_latest(self.registry)
