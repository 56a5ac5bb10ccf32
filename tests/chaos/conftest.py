"""Chaos suite fixtures: where runs go, and the chaos KPI file written from this session's runs.

Every scenario test appends its result to ``session_results``; when the session ends the chaos
suite file (``<reports>/kpi/chaos.json``) is written from exactly those runs through
``harness.kpi``, so a fast-subset run is never mixed with stale runs of scenarios it skipped.
HARNESS_REPORTS moves the reports directory (default ``reports``).

The suite takes minutes, so a bare ``pytest`` (which collects everything under tests/) deselects
it (deselected, not skipped: a skip would fail a strict-skips run): it runs when asked for by
marker (``-m chaos`` / ``-m chaos_fast``) or by path (``tests/chaos``). A missing toxiproxy-server
fails the scenarios with how to install it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.required_tools import require_toxiproxy
from harness.results import ScenarioResult, now, write_chaos_suite

CHAOS_DIR = Path(__file__).resolve().parent


def _asked_for(config: pytest.Config) -> bool:
    if "chaos" in (config.option.markexpr or ""):
        return True
    for arg in config.args:
        target = Path(arg.split("::", 1)[0]).resolve()
        if target == CHAOS_DIR or CHAOS_DIR in target.parents:
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the scenarios unless asked for: scripts/run_suite.sh chaos runs them."""
    if _asked_for(config):
        return
    chaos = [item for item in items if CHAOS_DIR in Path(str(item.path)).resolve().parents]
    if chaos:
        config.hook.pytest_deselected(items=chaos)
        items[:] = [item for item in items if CHAOS_DIR not in Path(str(item.path)).resolve().parents]


@pytest.fixture(autouse=True)
def _needs_toxiproxy() -> None:
    require_toxiproxy()


@pytest.fixture(scope="session")
def reports_dir() -> Path:
    return Path(os.environ.get("HARNESS_REPORTS", "reports"))


@pytest.fixture(scope="session", autouse=True)  # autouse: the session's wall time starts at its first test
def session_results(reports_dir: Path) -> Iterator[list[ScenarioResult]]:
    results: list[ScenarioResult] = []
    started = now()
    yield results
    if results:
        path = write_chaos_suite(reports_dir, results=results, started=started)
        print(f"\nchaos KPIs from {len(results)} scenario runs written to {path}")
