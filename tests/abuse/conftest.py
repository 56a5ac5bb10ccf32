"""One abuse run per session, shared by the tests that check its figures.

The profile is the short one unless MYTHOS_FULL_RUN=1 (``scripts/run_suite.sh abuse --full``
sets it); HARNESS_REPORTS moves the reports directory (default ``reports``), where the run
writes ``kpi/abuse.json`` and ``abuse/summary.json``. Progress goes straight to the terminal,
one line per attack, even while pytest captures output.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.abuse import AbuseResult, run_abuse


def _progress(config: pytest.Config) -> Callable[[str], None]:
    """Lines on pytest's terminal with output capture suspended for each (a fixture's own output
    is otherwise held until the test ends)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def say(message: str) -> None:
        suspended = capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext()
        with suspended:
            if reporter is not None:
                reporter.write_line(f"[abuse] {message}")
            else:
                print(f"[abuse] {message}", file=sys.stderr, flush=True)

    return say


@pytest.fixture(scope="session")
def abuse_run(pytestconfig: pytest.Config) -> AbuseResult:
    reports = Path(os.environ.get("HARNESS_REPORTS", "reports"))
    if not reports.is_absolute():
        reports = pytestconfig.rootpath / reports
    full = os.environ.get("MYTHOS_FULL_RUN") == "1"
    return run_abuse(full=full, reports=reports, progress=_progress(pytestconfig))
