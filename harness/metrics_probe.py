"""Samples of a game server's ``GET /metrics``: the NATS link FSM and the breaker over time.

The Prometheus endpoint needs no token, so the sampler can read it many times a second without
logging in. It is read on each server's direct address (not through the players' proxy) because
it is the harness's instrument, not part of the system under observation: a fault on the
players' link must not blind it. A server without the endpoint (404) yields no sample, and the
checkers then say "unknown" rather than guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["MetricsSample", "fetch_sample", "parse_prometheus"]

NAMESPACE = "mythos_nats"


@dataclass(frozen=True, slots=True)
class MetricsSample:
    """The figures a steady-state check and the transitions checker need from one scrape."""

    connection_state: str | None
    breaker_state: str | None
    reconnects: float
    dlq_depth: float
    dead_lettered: float
    breaker_transitions: Mapping[str, float] = field(default_factory=dict)
    """Counts by "source->target" since the server started: a half-open breaker can close
    between two scrapes, so its state gauge alone may never be seen half_open."""

    @property
    def steady(self) -> bool:
        """Chaos Toolkit's metric hypothesis: the link is connected and the breaker closed."""
        return self.connection_state == "connected" and self.breaker_state in ("closed", None)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "breaker_transitions": dict(self.breaker_transitions)}


def _one_hot(samples: Mapping[str, float]) -> str | None:
    """The label whose gauge is 1 (the metrics export states one-hot)."""
    current = [state for state, value in samples.items() if value >= 1.0]
    return current[0] if len(current) == 1 else None


def parse_prometheus(text: str) -> MetricsSample:
    """Read the link state, breaker state, reconnects and DLQ figures from a Prometheus exposition."""
    connection: dict[str, float] = {}
    breaker: dict[str, float] = {}
    transitions: dict[str, float] = {}
    reconnects = dlq_depth = dead_lettered = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, float(sample.value)
            if name == f"{NAMESPACE}_connection_state":
                connection[labels.get("state", "")] = value
            elif name == f"{NAMESPACE}_circuit_breaker_state":
                breaker[labels.get("state", "")] = value
            elif name == f"{NAMESPACE}_circuit_breaker_transitions_total":
                transitions[f"{labels.get('source', '')}->{labels.get('target', '')}"] = value
            elif name == f"{NAMESPACE}_reconnects_total":
                reconnects = value
            elif name == f"{NAMESPACE}_dlq_depth":
                dlq_depth = value
            elif name == f"{NAMESPACE}_messages_dead_lettered_total":
                dead_lettered += value
    return MetricsSample(_one_hot(connection), _one_hot(breaker), reconnects, dlq_depth, dead_lettered,
                         transitions)


async def fetch_sample(http: httpx.AsyncClient, base_url: str) -> MetricsSample | None:
    """One scrape of ``base_url/metrics``; None when the server has no such endpoint or is down."""
    try:
        response = await http.get(f"{base_url}/metrics")
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        return parse_prometheus(response.text)
    except ValueError:
        return None
