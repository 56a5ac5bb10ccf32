"""The KPI arithmetic behind reports/kpi/e2e.json (pure; no browser)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.e2e import LONG_OUTAGE, E2EFigures, LoopCheck, e2e_kpis, percentile, write_e2e_report
from harness.kpi import load_suite


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
    report = load_suite(write_e2e_report(figures, out_dir=tmp_path))
    assert report.suite == "e2e" and len(report.kpis) == 3


def test_unmeasured_kpis_are_reported_as_such() -> None:
    figures = E2EFigures()
    figures.loop_check("duplicate_login", 0, 128, allowed=0)  # not the scenario that defines the KPI
    results = e2e_kpis(figures)
    assert [k.value for k in results] == [None, None, None]
    assert all(not k.passed and k.evidence.startswith("not measured") for k in results)
