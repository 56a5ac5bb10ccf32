"""The harness can fail: the known-weak configuration must fail the delivery KPIs and the gate.

The same blackhole scenario the real suite runs, but every game server on core NATS
(at-most-once) with publish retries off (``scenarios.base.weakened``). Lines accepted while the
blackhole is still undetected are lost, and refusals are not dead-lettered, so the checker must
report the delivery KPIs failing and ``harness gate`` must go red on them. Everything is written
under a temporary reports directory: the real ``reports/kpi/chaos.json`` is never touched.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import load_scenario, main
from harness.history import F, load_history
from harness.kpi import CATALOGUE, kpi_from_catalogue, write_suite
from harness.results import ScenarioResult, write_chaos_suite
from scenarios.base import run_scenario, weakened
from tests.chaos.pool import ScenarioPool
from tests.chaos.session import ChaosSession

pytestmark = [pytest.mark.chaos, pytest.mark.chaos_fast, pytest.mark.timeout(240)]

DELIVERY_KPIS = ("message_delivery_rate", "message_loss_rate", "dlq_accounted")
CREDIBILITY_CHECK = "harness credibility: the known-weak configuration must fail"
"""Until this test shows the harness can fail, the session's chaos KPIs are vetoed under this name."""


def _write_every_other_kpi_at_its_goal(kpi_dir: Path) -> None:
    """Non-chaos KPIs at their goals, so only the chaos figures can turn the gate red."""
    now = datetime.now(UTC)
    by_suite: dict[str, list] = {}
    for kpi_id, spec in CATALOGUE.items():
        if "chaos" in spec.measured_by:
            continue
        by_suite.setdefault(spec.measured_by[0], []).append(
            kpi_from_catalogue(kpi_id, spec.goal, "synthetic: at goal for the credibility test"))
    for suite, kpis in by_suite.items():
        write_suite(suite, kpis, started=now, finished=now, out_dir=kpi_dir)


def _run_weak(_reports: Path, scratch: Path) -> ScenarioResult:
    """Under the scratch directory: the weak run never lands in the real reports."""
    return run_scenario(weakened(load_scenario("nats_blackhole")), reports=scratch)


@pytest.mark.runs.with_args(_run_weak)
def test_known_weak_configuration_fails_the_delivery_kpis_and_the_gate(
        request: pytest.FixtureRequest, chaos_pool: ScenarioPool, chaos_session: ChaosSession) -> None:
    chaos_session.fail(CREDIBILITY_CHECK)
    result: ScenarioResult = chaos_pool.result(request.node)
    tmp_path = Path(result.history).parents[2]  # the run's own reports directory (scratch)

    # The servers really ran the weak configuration (their admin metrics say so).
    _, ops = load_history(Path(result.history))
    modes = {(op.value or {}).get("nats", {}).get("mode") for op in ops
             if op.f == F.METRICS and (op.value or {}).get("source") == "api"}
    assert modes == {"core"}, f"expected core NATS on every server, admin metrics say {modes}"

    delivery = result.checks["delivery"]
    summary = {k: delivery.get(k) for k in ("acknowledged", "delivered", "lost", "dlq_expected",
                                            "dlq_entries", *DELIVERY_KPIS)}
    print(f"weak configuration: {summary}; history {result.history}")
    assert delivery["valid"] is False, f"the checker passed a known-weak configuration: {summary}"
    assert result.valid is False

    _write_every_other_kpi_at_its_goal(tmp_path / "kpi")
    write_chaos_suite(tmp_path, results=[result])
    gate = CliRunner().invoke(main, ["gate", "--reports", str(tmp_path)])
    assert gate.exit_code == 1, gate.output
    failed = [k for k in DELIVERY_KPIS if f"FAILED  {k}" in gate.output]
    assert failed, f"the gate went red for other reasons only:\n{gate.output}"
    assert "MISSING" not in gate.output
    assert not (Path("reports") / "runs" / result.run_id).exists()
    chaos_session.passed(CREDIBILITY_CHECK)
