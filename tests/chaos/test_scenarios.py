"""Every chaos scenario run for real through the harness, judged from its measurements.

``-m chaos_fast`` runs the subset of the default test command (partition, blackhole, nats-server
kill); ``-m chaos`` runs all of them. Each test runs one scenario on a fresh topology (real
nats-server, toxiproxy and mythos processes), then asserts the checkers' figures: delivery,
loss and DLQ accounting against the spec, recovery after every heal, availability while NATS is
faulted, the steady state around every fault, the link FSM and breaker as /metrics showed them,
and the alerts a real Prometheus fired (tests/chaos/alert_expectations.py).
"""

from __future__ import annotations

import pytest

from harness.cli import available_scenarios
from scenarios import CLUSTER, FAST
from tests.chaos.alert_expectations import alert_summary, alert_violations
from tests.chaos.expectations import summary, violations
from tests.chaos.pool import ScenarioPool, runs_named
from tests.chaos.session import ChaosSession

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(240)]

OWN_TESTS = ("nats_breaker", "nats_halfopen_disconnect")
"""Scenarios with a test of their own that asserts more (tests/chaos/test_nats_breaker.py,
tests/chaos/test_halfopen_disconnect.py, which runs its own eviction workload)."""
SCENARIOS = [name for name in available_scenarios() if name != "noop" and name not in CLUSTER]
"""The single-node scenarios; the cluster ones are tests/chaos/cluster's (marker chaos_cluster)."""
GENERIC = [name for name in SCENARIOS if name not in OWN_TESTS]


def _param(name: str) -> object:
    marks = [pytest.mark.scenario(name), runs_named(name),
             *([pytest.mark.chaos_fast] if name in FAST else [])]
    return pytest.param(name, marks=marks, id=name)


@pytest.mark.chaos_fast
def test_the_fast_subset_is_part_of_the_catalogue() -> None:
    assert set(FAST) <= set(SCENARIOS)
    assert {"nats_partition", "nats_blackhole", "nats_kill"} <= set(FAST)


@pytest.mark.parametrize("name", [_param(n) for n in GENERIC])
def test_scenario_holds_the_delivery_and_recovery_kpis(name: str, request: pytest.FixtureRequest,
                                                        chaos_pool: ScenarioPool, chaos_session: ChaosSession) -> None:
    result = chaos_session.record(chaos_pool.result(request.node))
    assert result.scenario == name
    problems = [*violations(result), *alert_violations(result)]
    print(summary(result))
    print(alert_summary(result))
    assert not problems, "\n".join([summary(result), alert_summary(result), *problems])
