"""The cluster chaos suite: scenarios on a 3-node NATS JetStream cluster, with their own KPI file.

Tests here are marked ``chaos_cluster`` and ``cluster_scenario(<name>)``, never ``chaos`` nor
``scenario``: ``-m chaos`` (make verify) and ``-m chaos_fast`` (make test) leave them out, and
the single-node suite's plan does not count them. ``-m chaos_cluster`` runs them; this session
fixture (it overrides tests/chaos/conftest.py's for the tests of this directory) then writes
``<reports>/kpi/cluster.json`` from exactly their runs, with ``cluster_failover_s`` beside the
pooled chaos KPIs (harness.results, suite ``cluster``). A planned scenario without a verdict
leaves the file's KPIs not measured, as in the single-node suite.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from harness.results import CLUSTER_SUITE, write_chaos_suite
from tests.chaos.session import ChaosSession

CLUSTER_DIR = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos_cluster: chaos scenarios on a 3-node NATS cluster (own suite file)")
    config.addinivalue_line("markers", "cluster_scenario(name): the cluster scenario a test runs (the plan)")
    config.addinivalue_line("markers", "cluster_fast: the cluster scenario of the default test command")


def cluster_plan(items: Sequence[pytest.Item]) -> list[str]:
    """The cluster scenarios of the collected tests of this directory (after -m / -k), sorted."""
    return sorted({str(marker.args[0]) for item in items
                   if CLUSTER_DIR in Path(str(item.path)).resolve().parents
                   for marker in item.iter_markers("cluster_scenario")})


@pytest.fixture(scope="session", autouse=True)
def chaos_session(reports_dir: Path, request: pytest.FixtureRequest) -> Iterator[ChaosSession]:
    session = ChaosSession(planned=cluster_plan(request.session.items))
    yield session
    if session.planned or session.results:
        path = write_chaos_suite(reports_dir, results=session.results, started=session.started,
                                 planned=session.planned, failures=session.failures, suite=CLUSTER_SUITE)
        missing = sorted(set(session.planned) - {r.scenario for r in session.results})
        print(f"\ncluster KPIs from {len(session.results)} of {len(session.planned)} planned scenario runs "
              f"written to {path}" + (f"; no verdict from {missing}" if missing else "")
              + (f"; failed checks {session.failures}" if session.failures else ""))
