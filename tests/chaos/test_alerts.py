"""The baseline for the alert rules: the ``noop`` scenario, run with Prometheus watching, fires nothing.

The scenarios with faults are judged in their own tests (tests/chaos/test_scenarios.py asserts
each one's alerts); this run supplies ``false_alerts_in_baseline`` to the chaos suite file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import load_scenario
from scenarios.base import run_scenario
from tests.chaos.alert_expectations import alert_summary, alert_violations
from tests.chaos.expectations import summary
from tests.chaos.session import ChaosSession

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(180)]


@pytest.mark.chaos_fast
@pytest.mark.scenario("noop")
def test_the_noop_baseline_fires_no_alert(reports_dir: Path, chaos_session: ChaosSession) -> None:
    result = chaos_session.record(run_scenario(load_scenario("noop"), reports=reports_dir))
    print(summary(result))
    print(alert_summary(result))
    check = result.checks["alerts"]
    assert check.get("baseline") is True, check
    assert check.get("servers"), f"Prometheus scraped no game server: {check}"
    problems = alert_violations(result)
    assert not problems, "\n".join([alert_summary(result), *problems])
