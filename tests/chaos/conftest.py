"""Chaos suite fixtures: where runs go, and the chaos KPI file written from this session's runs.

Every scenario test appends its result to ``session_results``; when the session ends the chaos
suite file (``<reports>/kpi/chaos.json``) is written from exactly those runs through
``harness.kpi``, so a fast-subset run is never mixed with stale runs of scenarios it skipped.
HARNESS_REPORTS moves the reports directory (default ``reports``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.results import ScenarioResult, write_chaos_suite
from harness.services.toxiproxy import ToxiproxyNotFoundError, find_toxiproxy_server


@pytest.fixture(autouse=True)
def _needs_toxiproxy() -> None:
    try:
        find_toxiproxy_server()
    except ToxiproxyNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def reports_dir() -> Path:
    return Path(os.environ.get("HARNESS_REPORTS", "reports"))


@pytest.fixture(scope="session")
def session_results(reports_dir: Path) -> Iterator[list[ScenarioResult]]:
    results: list[ScenarioResult] = []
    yield results
    if results:
        path = write_chaos_suite(reports_dir, results=results)
        print(f"\nchaos KPIs from {len(results)} scenario runs written to {path}")
