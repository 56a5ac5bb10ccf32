"""Chaos suite fixtures: where runs go, and the chaos KPI file written from this session's runs.

Every scenario test is marked ``scenario(<name>)``; the scenarios of the tests this session
collected (fast subset or all, after ``-m`` / ``-k``) are the suite's ``planned`` ones. A test
records its run in ``chaos_session`` once the scenario returned a verdict, and names any extra
assertion that failed; when the session ends the chaos suite file (``<reports>/kpi/chaos.json``)
is written from exactly those runs through ``harness.results.write_chaos_suite``. A scenario
that raised, timed out or was skipped returns nothing, so the file's KPIs are not measured
and the gate names it; a failed non-KPI check vetoes them. A fast-subset run is never mixed
with stale runs of scenarios it did not run. HARNESS_REPORTS moves the reports directory
(default ``reports``).

The suite takes minutes, so a bare ``pytest`` (which collects everything under tests/) deselects
it (deselected, not skipped: a skip would fail a strict-skips run): it runs when asked for by
marker (``-m chaos`` / ``-m chaos_fast``) or by path (``tests/chaos``). A missing toxiproxy-server
or prometheus fails the scenarios with how to install it; each run gets its own Prometheus.

Runs go CHAOS_PARALLEL at a time (default 2), submitted when the session starts
(tests/chaos/pool.py); each test waits for its own run, then judges it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from harness.required_tools import require_prometheus, require_toxiproxy
from harness.results import write_chaos_suite
from harness.services.prometheus import PROMETHEUS_ENV
from tests.chaos.pool import ScenarioPool, parallel_from_env
from tests.chaos.session import ChaosSession

CHAOS_DIR = Path(__file__).resolve().parent
PLANNED_KEY = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "scenario(name): the chaos scenario a test runs (the suite's plan)")


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


def scenario_plan(items: Sequence[pytest.Item]) -> list[str]:
    """The scenarios of the chaos tests among ``items`` (their ``scenario`` markers), sorted."""
    return sorted({str(marker.args[0]) for item in items
                   if CHAOS_DIR in Path(str(item.path)).resolve().parents
                   for marker in item.iter_markers("scenario")})


def pytest_collection_finish(session: pytest.Session) -> None:
    """The plan: the scenarios of the chaos tests that survived deselection (-m, -k, paths)."""
    session.config.stash[PLANNED_KEY] = scenario_plan(session.items)


def pytest_report_collectionfinish(config: pytest.Config, items: Sequence[pytest.Item]) -> list[str]:
    plan = scenario_plan(items)
    return [f"chaos plan: {', '.join(plan)}"] if plan else []


@pytest.fixture(autouse=True)
def _needs_toxiproxy() -> None:
    require_toxiproxy()


@pytest.fixture(scope="session", autouse=True)
def _prometheus_watches_every_run() -> Iterator[None]:
    """Every scenario run of the session gets a real Prometheus with the shipped rules
    (scenarios.base.run_scenario reads HARNESS_PROMETHEUS): one per topology, its alerts judged
    by the ``alerts`` checker. A missing prometheus fails the scenarios with how to install it."""
    previous = os.environ.get(PROMETHEUS_ENV)
    os.environ[PROMETHEUS_ENV] = str(require_prometheus())
    yield
    if previous is None:
        os.environ.pop(PROMETHEUS_ENV, None)
    else:
        os.environ[PROMETHEUS_ENV] = previous


@pytest.fixture(scope="session")
def reports_dir() -> Path:
    return Path(os.environ.get("HARNESS_REPORTS", "reports"))


@pytest.fixture(scope="session")
def chaos_pool(request: pytest.FixtureRequest, reports_dir: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScenarioPool]:
    """Every collected test's run, submitted at once and run CHAOS_PARALLEL at a time."""
    pool = ScenarioPool(parallel_from_env(), reports_dir, lambda name: tmp_path_factory.mktemp(name))
    submitted = pool.prefetch(request.session.items)
    print(f"\nchaos: {submitted} scenario runs submitted, {pool.workers} at a time")
    yield pool
    pool.close()


@pytest.fixture(scope="session", autouse=True)  # autouse: the session's wall time starts at its first test
def chaos_session(reports_dir: Path, pytestconfig: pytest.Config) -> Iterator[ChaosSession]:
    session = ChaosSession(planned=list(pytestconfig.stash.get(PLANNED_KEY, [])))
    yield session
    if session.planned or session.results:
        path = write_chaos_suite(reports_dir, results=session.results, started=session.started,
                                 planned=session.planned, failures=session.failures)
        missing = sorted(set(session.planned) - {r.scenario for r in session.results})
        print(f"\nchaos KPIs from {len(session.results)} of {len(session.planned)} planned scenario runs "
              f"written to {path}" + (f"; no verdict from {missing}" if missing else "")
              + (f"; failed checks {session.failures}" if session.failures else ""))
