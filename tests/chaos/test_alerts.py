"""The baseline for the alert rules: the ``noop`` scenario, run with Prometheus watching, fires nothing.

The scenarios with faults are judged in their own tests (tests/chaos/test_scenarios.py asserts
each one's alerts); this run supplies ``false_alerts_in_baseline`` to the chaos suite file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import load_scenario
from harness.results import ScenarioResult
from scenarios.base import run_scenario
from tests.chaos.alert_expectations import alert_summary, alert_violations
from tests.chaos.expectations import summary
from tests.chaos.pool import ScenarioPool
from tests.chaos.session import ChaosSession

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(180)]


def _run_noop(reports: Path, _scratch: Path) -> ScenarioResult:
    return run_scenario(load_scenario("noop"), reports=reports)


@pytest.mark.chaos_fast
@pytest.mark.scenario("noop")
@pytest.mark.runs.with_args(_run_noop)
def test_the_noop_baseline_fires_no_alert(request: pytest.FixtureRequest, chaos_pool: ScenarioPool,
                                          chaos_session: ChaosSession) -> None:
    result = chaos_session.record(chaos_pool.result(request.node))
    print(summary(result))
    print(alert_summary(result))
    check = result.checks["alerts"]
    assert check.get("baseline") is True, check
    assert check.get("servers"), f"Prometheus scraped no game server: {check}"
    problems = alert_violations(result)
    assert not problems, "\n".join([alert_summary(result), *problems])
