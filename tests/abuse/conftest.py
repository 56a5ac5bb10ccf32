"""One abuse run per session, shared by the tests that check its figures.

The profile is the short one unless MYTHOS_FULL_RUN=1 (``scripts/run_suite.sh abuse --full``
sets it); HARNESS_REPORTS moves the reports directory (default ``reports``), where the run
writes ``kpi/abuse.json`` and ``abuse/summary.json``. Progress goes straight to the terminal,
one line per attack, even while pytest captures output.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from harness.abuse import AbuseResult, run_abuse


def _say(message: str) -> None:
    stream = sys.__stderr__ or sys.stderr
    stream.write(f"[abuse] {message}\n")
    stream.flush()


@pytest.fixture(scope="session")
def abuse_run(pytestconfig: pytest.Config) -> AbuseResult:
    reports = Path(os.environ.get("HARNESS_REPORTS", "reports"))
    if not reports.is_absolute():
        reports = pytestconfig.rootpath / reports
    return run_abuse(full=os.environ.get("MYTHOS_FULL_RUN") == "1", reports=reports, progress=_say)
