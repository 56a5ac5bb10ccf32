"""Fixtures of the browser suite: Debian's Chromium, the e2e build of the client, a real topology per test.

The suite runs in its own pytest process (sync Playwright breaks pytest-asyncio tests that
share a process with it). Each test gets its own nats-server, Toxiproxy and mythos serving
client/dist-e2e; the browser reaches mythos through the Toxiproxy link ``client-0``. The figures
the scenarios record become reports/kpi/e2e.json when the session ends, with the browser
scenarios the session collected (planned), those that ran to the end (completed) and those
that failed an assertion (their failures veto every e2e KPI).
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page

from e2e.steps import TopologyFactory
from harness.e2e import E2EFigures, ScenarioLedger, write_e2e_report
from harness.paths import RunPaths
from harness.required_tools import require_chromium
from harness.topology import FAST_DETECTION_ENV, Topology, TopologySpec

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CLIENT_DIR = PROJECT_ROOT / "client"
CLIENT_DIST = CLIENT_DIR / "dist-e2e"
"""``npm run build:e2e``: the production build with runtime overrides (URL, window) honoured."""
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
BUILD_TIMEOUT_S = 600
VIEWPORT = {"width": 1100, "height": 700}
BROWSER_FIXTURES = frozenset({"topology", "make_topology"})
"""A test that asks for one of these is a browser scenario (the rest of e2e/ is arithmetic)."""

_FIGURES = pytest.StashKey[E2EFigures]()
_LEDGER = pytest.StashKey[ScenarioLedger]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_FIGURES] = E2EFigures()
    config.stash[_LEDGER] = ScenarioLedger()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.e2e)


def _is_scenario(item: pytest.Item) -> bool:
    return bool(BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())))


def pytest_collection_finish(session: pytest.Session) -> None:
    """The planned scenarios: the browser tests left after selection (``-m``, ``-k``)."""
    session.config.stash[_LEDGER].plan([item.nodeid for item in session.items if _is_scenario(item)])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    assertion = call.excinfo is not None and call.excinfo.errisinstance(AssertionError)
    item.config.stash[_LEDGER].report(item.nodeid, report.when or call.when, report.outcome, assertion=assertion)
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write reports/kpi/e2e.json when browser scenarios were collected, however the session ended."""
    ledger = session.config.stash[_LEDGER]
    if ledger.planned:
        write_e2e_report(session.config.stash[_FIGURES], ledger=ledger)


@pytest.fixture(scope="session", autouse=True)
def chromium() -> Path:
    """Debian's Chromium, looked up before any topology starts.

    A missing Chromium fails every browser test with how to install it: a skip would read as green.
    """
    return require_chromium()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any], chromium: Path) -> dict[str, Any]:
    """Playwright's own browser downloads are never used."""
    return {**browser_type_launch_args, "executable_path": str(chromium), "headless": True,
            "args": CHROMIUM_ARGS}


def _client_build_stale() -> bool:
    """No e2e build yet, or a client source newer than it."""
    index = CLIENT_DIST / "index.html"
    if not index.is_file():
        return True
    built = index.stat().st_mtime
    sources = [*(CLIENT_DIR / "src").rglob("*"), CLIENT_DIR / "index.html", CLIENT_DIR / "vite.config.ts",
               CLIENT_DIR / "package-lock.json"]
    return any(p.is_file() and p.stat().st_mtime > built for p in sources)


@pytest.fixture(scope="session")
def client_dist() -> Path:
    """The e2e build of the client (production code, overrides honoured), rebuilt when a source is newer.

    The production build (client/dist) ignores URL and window overrides, which the scenarios use
    to shrink timeouts and budgets.
    """
    if _client_build_stale():
        if not (CLIENT_DIR / "node_modules").is_dir():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CLIENT_DIR, check=True,
                           timeout=BUILD_TIMEOUT_S)
        subprocess.run(["npm", "run", "build:e2e"], cwd=CLIENT_DIR, check=True, timeout=BUILD_TIMEOUT_S)
    return CLIENT_DIST


@pytest.fixture(scope="session")
def figures(pytestconfig: pytest.Config) -> E2EFigures:
    """What the scenarios measured; written to reports/kpi/e2e.json when the session finishes."""
    return pytestconfig.stash[_FIGURES]


@pytest.fixture
def make_topology(client_dist: Path, request: pytest.FixtureRequest) -> Iterator[TopologyFactory]:
    """``make_topology(HEARTBEAT_INTERVAL="1.0")``: nats, Toxiproxy and one mythos, stopped after the test."""
    with contextlib.ExitStack() as stack:
        def start(**env: str) -> Topology:
            label = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[-40:].strip("-")
            mythos_env: Mapping[str, str] = {**FAST_DETECTION_ENV,
                                             "CLIENT_DIST_DIR": str(client_dist), **env}
            spec = TopologySpec(mythos=1, mythos_env=mythos_env)
            return stack.enter_context(Topology(spec, RunPaths.new(f"e2e-{label}")))
        yield start


@pytest.fixture
def topology(make_topology: TopologyFactory) -> Topology:
    return make_topology()


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": VIEWPORT}


@pytest.fixture
def tab(new_context: Callable[..., BrowserContext]) -> Page:
    """One tab in a fresh context; pytest-playwright's ``new_context`` records failure artefacts."""
    return new_context().new_page()
