"""The chaos session's pool runs scenario runs side by side and hands each test its own run."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.pool import ScenarioPool, parallel_from_env


class _Item:
    """The two things the pool reads from a pytest item."""

    def __init__(self, nodeid: str, fn: Any = None) -> None:
        self.nodeid = nodeid
        self._marker = None if fn is None else pytest.mark.runs.with_args(fn).mark

    def get_closest_marker(self, name: str) -> Any:
        return self._marker if name == "runs" else None


def _pool(tmp_path: Path, workers: int) -> ScenarioPool:
    return ScenarioPool(workers, tmp_path / "reports", lambda name: tmp_path / name)


def test_two_workers_run_two_scenarios_at_once(tmp_path: Path) -> None:
    first_started, second_started = threading.Event(), threading.Event()

    def first(reports: Path, scratch: Path) -> str:
        first_started.set()
        # Only true when the second run started while this one still runs.
        return "overlapped" if second_started.wait(5) else "alone"

    def second(reports: Path, scratch: Path) -> str:
        second_started.set()
        return f"{reports.name} {scratch.name}"

    items = [_Item("t.py::a", first), _Item("t.py::b", second), _Item("t.py::plain")]
    pool = _pool(tmp_path, 2)
    try:
        assert pool.prefetch(items) == 2
        assert pool.result(items[0]) == "overlapped"
        assert pool.result(items[1]) == "reports b"
    finally:
        pool.close()


def test_one_worker_runs_them_in_collection_order(tmp_path: Path) -> None:
    order: list[str] = []
    items = [_Item(f"t.py::{n}", lambda r, s, n=n: order.append(n)) for n in "abc"]
    pool = _pool(tmp_path, 1)
    try:
        pool.prefetch(items)
        for item in reversed(items):
            pool.result(item)
    finally:
        pool.close()
    assert order == ["a", "b", "c"]


def test_a_run_that_raised_raises_in_its_test_and_a_test_without_a_run_is_refused(tmp_path: Path) -> None:
    def broken(reports: Path, scratch: Path) -> None:
        raise TimeoutError("nats-server not healthy in 10 s")

    pool = _pool(tmp_path, 2)
    try:
        with pytest.raises(TimeoutError, match="not healthy"):
            pool.result(_Item("t.py::broken", broken))  # not prefetched: submitted on demand
        with pytest.raises(LookupError, match="no runs"):
            pool.result(_Item("t.py::plain"))
    finally:
        pool.close()


def test_the_run_count_comes_from_chaos_parallel() -> None:
    assert parallel_from_env({}) == 2
    assert parallel_from_env({"CHAOS_PARALLEL": "1"}) == 1
    with pytest.raises(ValueError, match="CHAOS_PARALLEL='two'"):
        parallel_from_env({"CHAOS_PARALLEL": "two"})
    with pytest.raises(ValueError, match="CHAOS_PARALLEL=9"):
        parallel_from_env({"CHAOS_PARALLEL": "9"})


def test_runs_side_by_side_turn_vfork_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """make verify 11:25: with two runs starting processes at once, an exec failed with EFAULT
    under CPython 3.11's vfork. A pool of more than one worker turns it off; one worker leaves it."""
    import subprocess  # nosec B404 - the switch only, nothing is started

    monkeypatch.setattr(subprocess, "_USE_VFORK", True, raising=False)
    _pool(tmp_path, 1).close()
    assert subprocess._USE_VFORK is True  # type: ignore[attr-defined]
    _pool(tmp_path, 2).close()
    assert subprocess._USE_VFORK is False  # type: ignore[attr-defined]
