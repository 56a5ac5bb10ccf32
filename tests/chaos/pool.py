"""The chaos session's scenario runs, a few at a time: run first, judge after.

Each scenario runs on its own topology (its own nats-server, Toxiproxy, game servers and
Prometheus, all on free loopback ports) and spends most of its wall time waiting on its
schedule, so runs side by side take a fraction of the time of one after the other. When the
session starts, every collected test marked ``runs(fn)`` has its run submitted, in collection
order; the test then waits for its own run and judges it exactly as before. A run that raised
re-raises in its test, so it returns no verdict and the suite's KPIs stay "not measured".

``CHAOS_PARALLEL`` sets how many runs go at once (default 2; 1 runs them one after another).
"""

from __future__ import annotations

import functools
import os
import subprocess  # nosec B404 - the switch below, no process is started here
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

__all__ = ["DEFAULT_PARALLEL", "PARALLEL_ENV", "RunFn", "ScenarioPool", "cluster_params", "parallel_from_env",
           "runs_named"]

PARALLEL_ENV = "CHAOS_PARALLEL"
DEFAULT_PARALLEL = 2
MAX_PARALLEL = 4
"""More would starve a 2-core machine: the runs' recovery figures are timed."""

RunFn = Callable[[Path, Path], Any]
"""``fn(reports_dir, scratch_dir)``: one scenario run; its return value is the test's to judge."""


def parallel_from_env(environ: dict[str, str] | None = None) -> int:
    """CHAOS_PARALLEL as a count in 1..MAX_PARALLEL; anything else is refused by name."""
    raw = (environ if environ is not None else dict(os.environ)).get(PARALLEL_ENV, str(DEFAULT_PARALLEL))
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{PARALLEL_ENV}={raw!r}: expected a whole number of runs, 1..{MAX_PARALLEL}") from None
    if not 1 <= value <= MAX_PARALLEL:
        raise ValueError(f"{PARALLEL_ENV}={value}: expected 1..{MAX_PARALLEL}")
    return value


def _run_named(name: str, reports: Path, _scratch: Path) -> Any:
    # Imported here: the scenario catalogue loads the harness, which a unit test of the pool needs not.
    from harness.cli import load_scenario
    from scenarios.base import run_scenario

    return run_scenario(load_scenario(name), reports=reports)


def runs_named(name: str) -> pytest.MarkDecorator:
    """``runs`` for the plain run of the catalogue scenario ``name`` into the session's reports."""
    return pytest.mark.runs.with_args(functools.partial(_run_named, name))


def cluster_params(names: Iterable[str]) -> list[Any]:
    """One pytest param per cluster scenario: its plan marker, its run, and ``cluster_fast``
    for the one the default test command runs (scenarios.CLUSTER_FAST)."""
    from scenarios import CLUSTER_FAST

    return [pytest.param(name, id=name, marks=[
        pytest.mark.cluster_scenario(name), runs_named(name),
        *([pytest.mark.cluster_fast] if name in CLUSTER_FAST else [])]) for name in names]


def run_marker(item: pytest.Item) -> RunFn | None:
    marker = item.get_closest_marker("runs")
    return None if marker is None else marker.args[0]


class ScenarioPool:
    """Runs submitted by test id on ``workers`` threads; a test asks for its own by id."""

    def __init__(self, workers: int, reports: Path, scratch: Callable[[str], Path]) -> None:
        if workers > 1:
            # Runs start processes from several threads at once. CPython 3.11 spawns with vfork()
            # and lets other threads run until the child execs; a make verify run (11:25) had
            # one exec fail with EFAULT ("Bad address") that way. fork() has no such window;
            # the subprocess docs name this switch for turning vfork off.
            subprocess._USE_VFORK = False  # type: ignore[attr-defined]
        self.workers = workers
        self._reports = reports
        self._scratch = scratch
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chaos-run")
        self._futures: dict[str, Future[Any]] = {}

    def submit(self, test_id: str, fn: RunFn) -> Future[Any]:
        if test_id not in self._futures:
            scratch = self._scratch(test_id.rsplit("::", 1)[-1][:40])
            self._futures[test_id] = self._executor.submit(fn, self._reports, scratch)
        return self._futures[test_id]

    def prefetch(self, items: Iterable[pytest.Item]) -> int:
        """Submit the run of every item that has one, in order; returns how many."""
        count = 0
        for item in items:
            fn = run_marker(item)
            if fn is not None:
                self.submit(item.nodeid, fn)
                count += 1
        return count

    def result(self, item: pytest.Item) -> Any:
        """This test's run (submitted now if it was not prefetched), waited for; re-raises its error."""
        fn = run_marker(item)
        if fn is None:
            raise LookupError(f"{item.nodeid} has no runs(fn) marker")
        return self.submit(item.nodeid, fn).result()

    def close(self) -> None:
        """Runs not started are dropped; running ones finish and stop their own processes."""
        self._executor.shutdown(wait=True, cancel_futures=True)
