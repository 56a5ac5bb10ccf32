"""The KPI arithmetic behind reports/kpi/e2e.json (pure; no browser)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.a11y import REQUIRED_VIEWS, A11yCheck
from harness.e2e import (
    LONG_OUTAGE,
    E2EFigures,
    LoopCheck,
    ScenarioLedger,
    attempts_seen,
    e2e_kpis,
    percentile,
    write_e2e_report,
)
from harness.herd import HerdRun
from harness.kpi import load_suite
from harness.verdict import judge

E2E_KPIS = ("connection_recovery_s", "infinite_reconnect_loops", "connection_success_rate", "a11y_violations",
            "herd_recovery_s", "herd_failed_clients")
LOGIN = "e2e/test_login.py::test_login"
OUTAGE = "e2e/test_long_outage.py::test_long_outage"


def test_percentile_is_nearest_rank() -> None:
    assert percentile([0.5], 95) == 0.5
    assert percentile([0.3, 0.9, 0.1], 95) == 0.9  # few runs: p95 is the worst
    assert percentile(list(range(1, 101)), 95) == 95
    with pytest.raises(ValueError):
        percentile([], 95)


def test_loop_excess_allows_max_plus_one_only() -> None:
    figures = E2EFigures()
    figures.loop_check("outage", 129, 128)
    figures.loop_check("outage", 131, 128)
    figures.loop_check("evicted", 1, 128, allowed=0)
    assert [c.excess for c in figures.loop_checks] == [0, 2, 1]
    assert LoopCheck("x", attempts=0, max_attempts=5, allowed=0).excess == 0


def test_kpis_from_figures_pass_and_fail_on_the_values(tmp_path: Path) -> None:
    figures = E2EFigures()
    figures.recovery("server_restart", 0.8)
    figures.recovery("link_cut", 6.0)
    figures.loop_check(LONG_OUTAGE, 140, 128)
    for ok in (True, True, False):
        figures.connection(ok)
    by_id = {k.id: k for k in e2e_kpis(figures)}
    assert by_id["connection_recovery_s"].value == 6.0 and not by_id["connection_recovery_s"].passed
    assert by_id["infinite_reconnect_loops"].value == 11.0 and not by_id["infinite_reconnect_loops"].passed
    assert by_id["connection_success_rate"].value == pytest.approx(2 / 3)
    report = load_suite(write_e2e_report(figures, out_dir=tmp_path, ledger=ScenarioLedger()))
    assert report.suite == "e2e" and {k.id for k in report.kpis} >= set(E2E_KPIS)


def test_unmeasured_kpis_are_reported_as_such() -> None:
    figures = E2EFigures()
    figures.loop_check("duplicate_login", 0, 128, allowed=0)  # not the scenario that defines the KPI
    results = e2e_kpis(figures)
    assert [k.value for k in results] == [None] * len(results)
    assert all(not k.passed and k.evidence.startswith("not measured") for k in results)


def _attempt_log(attempts: range) -> list[dict]:
    """The client's transition log through an outage: reconnecting, one entry per attempt."""
    return [{"t": 1000.0 + n, "to": "reconnecting", "event": "RETRY", "attempts": n} for n in attempts]


def test_a_reconnect_loop_is_a_failing_value_not_a_missing_one() -> None:
    """A client that never gives up: 300 stream requests against a budget of 128 (+1 for the drop)."""
    requests = [f"http://127.0.0.1/api/events?attempt={n}" for n in range(300)]
    figures = E2EFigures()
    figures.loop_check(LONG_OUTAGE, attempts_seen(requests, _attempt_log(range(1, 301))), 128)
    loops = {k.id: k for k in e2e_kpis(figures)}["infinite_reconnect_loops"]
    assert loops.value == 300 - 129
    assert loops.measured and not loops.passed


def test_attempts_seen_takes_the_higher_of_requests_and_the_clients_own_count() -> None:
    # A machine that resets its counter still sends requests...
    assert attempts_seen(["r"] * 200, _attempt_log(range(1, 11))) == 200
    # ...and attempts the request counter cannot see still count up in the client's log.
    assert attempts_seen(["r"] * 3, _attempt_log(range(1, 151))) == 150
    assert attempts_seen([], []) == 0


def test_a_bounded_outage_measures_zero() -> None:
    figures = E2EFigures()
    figures.loop_check(LONG_OUTAGE, attempts_seen(["r"] * 129, _attempt_log(range(1, 129))), 128)
    loops = {k.id: k for k in e2e_kpis(figures)}["infinite_reconnect_loops"]
    assert loops.value == 0.0 and loops.passed


def _measured_everything() -> E2EFigures:
    figures = E2EFigures()
    figures.recovery("server_restart", 0.4)
    figures.loop_check(LONG_OUTAGE, 129, 128)
    figures.connection(True)
    for view in REQUIRED_VIEWS:
        figures.a11y_check(A11yCheck(view, ()))
    figures.herd(HerdRun(clients=2, down_s=3.0, recoveries_s={0: 0.5, 1: 0.8},
                         final_states={0: "fully_connected", 1: "fully_connected"}, peak_attempts_per_s=2,
                         peak_server_opens_per_s=2, attempts_max=3, server_alive=True))
    return figures


def _written(tmp_path: Path, ledger: ScenarioLedger) -> dict:
    """The file as written, plus ``passing``: the e2e KPIs the release gate's own judgement lets pass
    (its missing-scenario and failure vetoes applied)."""
    path = write_e2e_report(_measured_everything(), out_dir=tmp_path / "kpi", ledger=ledger)
    data: dict = json.loads(path.read_text(encoding="utf-8"))
    merged = judge(tmp_path, allow_stale=True).merged
    data["passing"] = {k for k, entry in merged.items() if entry.suite == "e2e" and entry.result.passed}
    return data


def _phases(ledger: ScenarioLedger, scenario: str, call: str, *, assertion: bool = False,
            teardown: str = "passed") -> None:
    ledger.report(scenario, "setup", "passed")
    ledger.report(scenario, "call", call, assertion=assertion)
    ledger.report(scenario, "teardown", teardown)


def test_every_planned_scenario_completed_lets_the_kpis_pass(tmp_path: Path) -> None:
    ledger = ScenarioLedger()
    ledger.plan([LOGIN, OUTAGE])
    _phases(ledger, LOGIN, "passed")
    _phases(ledger, OUTAGE, "passed")
    data = _written(tmp_path, ledger)
    assert data["planned"] == [LOGIN, OUTAGE] and data["completed"] == [LOGIN, OUTAGE]
    # connection_success_rate is measured by e2e and load: the gate judges it once both report it.
    assert data["passing"] == set(E2E_KPIS) - {"connection_success_rate"}, data["kpis"]
    assert {k["id"]: k for k in data["kpis"]}["connection_success_rate"]["passed"] is True


def test_a_failed_assertion_vetoes_every_e2e_kpi(tmp_path: Path) -> None:
    ledger = ScenarioLedger()
    ledger.plan([LOGIN, OUTAGE])
    _phases(ledger, LOGIN, "passed")
    _phases(ledger, OUTAGE, "failed", assertion=True)
    assert ledger.completed == [LOGIN, OUTAGE] and ledger.failures == [OUTAGE]
    data = _written(tmp_path, ledger)
    assert {k["id"] for k in data["kpis"]} == set(E2E_KPIS)
    assert data["failures"] == [OUTAGE]
    assert not data["passing"], data["kpis"]


@pytest.mark.parametrize("how", ["raised", "skipped", "setup error", "teardown error", "never ran"])
def test_a_scenario_that_did_not_finish_leaves_the_kpis_not_measured(tmp_path: Path, how: str) -> None:
    ledger = ScenarioLedger()
    ledger.plan([LOGIN, OUTAGE])
    _phases(ledger, LOGIN, "passed")
    if how == "raised":
        _phases(ledger, OUTAGE, "failed", assertion=False)
    elif how == "skipped":
        ledger.report(OUTAGE, "setup", "skipped")
    elif how == "setup error":
        ledger.report(OUTAGE, "setup", "failed")
    elif how == "teardown error":
        _phases(ledger, OUTAGE, "passed", teardown="failed")
    assert ledger.completed == [LOGIN] and ledger.failures == []
    data = _written(tmp_path, ledger)
    assert data["completed"] == [LOGIN]
    assert not data["passing"], data["kpis"]


def test_the_ledger_ignores_tests_that_are_not_planned_scenarios() -> None:
    ledger = ScenarioLedger()
    ledger.plan([LOGIN])
    ledger.report("e2e/test_figures.py::test_percentile_is_nearest_rank", "call", "passed")
    assert ledger.completed == []
