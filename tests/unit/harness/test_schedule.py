"""Schedules are data, and the nemesis heals every fault it started, even when cancelled."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from harness.history import History
from harness.schedule import FaultWindow, Schedule, run_nemesis

from .test_faults import Target


def PART(at_s: float, duration_s: float) -> FaultWindow:
    return FaultWindow("partition", at_s=at_s, duration_s=duration_s, params={"link": "x"})


def test_schedule_round_trips_through_json() -> None:
    schedule = Schedule(duration_s=30, windows=(
        FaultWindow("partition", at_s=5, duration_s=10, params={"link": "nats-0"}),
        FaultWindow("latency", at_s=20, duration_s=5, params={"link": "client-0", "latency_ms": 500},
                    id="slow"),
    ))
    data = json.loads(json.dumps(schedule.to_dict()))
    again = Schedule.from_dict(data)
    assert [w.window_id for w in again.windows] == ["partition@5s", "slow"]
    assert again.windows[1].params == {"link": "client-0", "latency_ms": 500}
    assert again.total_s == 35


@pytest.mark.parametrize("make", [
    lambda: FaultWindow("partition", at_s=-1, duration_s=1, params={"link": "x"}),
    lambda: FaultWindow("partition", at_s=0, duration_s=0, params={"link": "x"}),
    lambda: FaultWindow("no_such_fault", at_s=0, duration_s=1),
    lambda: FaultWindow("partition", at_s=0, duration_s=1, params={"lnk": "x"}),
    lambda: Schedule(duration_s=10, windows=(PART(at_s=8, duration_s=5),)),
    lambda: Schedule(duration_s=10, windows=(PART(at_s=1, duration_s=1), PART(at_s=1, duration_s=2))),
])
def test_bad_schedules_are_refused_at_definition(make) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        make()


def test_nemesis_records_start_heal_and_steady_state_in_order(tmp_path: Path) -> None:
    target = Target()
    schedule = Schedule(duration_s=0.2, windows=(
        FaultWindow("partition", at_s=0.0, duration_s=0.05, params={"link": "nats-0"}),
        FaultWindow("kill_nats", at_s=0.1, duration_s=0.05)))
    phases: list[tuple[str, str]] = []

    async def steady(phase: str, window: str) -> bool:
        phases.append((phase, window))
        return window != "kill_nats@0.1s" or phase == "before"

    with History(tmp_path / "h.jsonl") as history:
        asyncio.run(run_nemesis(schedule, target, history, steady_state=steady))
        ops = [(op.type, op.f, (op.value or {}).get("window")) for op in history.ops]
    assert [o for o in ops if o[1] in ("start", "heal")] == [
        ("invoke", "start", "partition@0s"), ("ok", "start", "partition@0s"),
        ("invoke", "heal", "partition@0s"), ("ok", "heal", "partition@0s"),
        ("invoke", "start", "kill_nats@0.1s"), ("ok", "start", "kill_nats@0.1s"),
        ("invoke", "heal", "kill_nats@0.1s"), ("ok", "heal", "kill_nats@0.1s")]
    assert phases == [("before", "partition@0s"), ("after", "partition@0s"),
                      ("before", "kill_nats@0.1s"), ("after", "kill_nats@0.1s")]
    assert ("fail", "steady", "kill_nats@0.1s") in ops
    assert target.toxiproxy.enabled == {"proxy-nats-0": True}
    assert target.services["nats"].events == ["kill", "restart"]


def test_a_cancelled_run_still_heals(tmp_path: Path) -> None:
    target = Target()
    schedule = Schedule(duration_s=60, windows=(
        FaultWindow("partition", at_s=0.0, duration_s=50, params={"link": "nats-0"}),))

    async def cancel_midway(history: History) -> None:
        task = asyncio.create_task(run_nemesis(schedule, target, history))
        while target.toxiproxy.enabled.get("proxy-nats-0", True):
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.05)  # let the shielded heal finish

    with History(tmp_path / "h.jsonl") as history:
        asyncio.run(asyncio.wait_for(cancel_midway(history), 10))
        heals = [op.type for op in history.ops if op.f == "heal"]
    assert target.toxiproxy.enabled["proxy-nats-0"] is True
    assert heals == ["invoke", "ok"]


def test_a_failing_start_is_recorded_and_still_healed(tmp_path: Path) -> None:
    class Broken(Target):
        def service(self, name: str):  # type: ignore[override]
            raise RuntimeError("no such process")

    schedule = Schedule(duration_s=0.1, windows=(FaultWindow("kill_mythos", at_s=0, duration_s=0.01),))
    with History(tmp_path / "h.jsonl") as history:
        asyncio.run(run_nemesis(schedule, Broken(), history))
        ops = [(op.type, op.f) for op in history.ops]
    assert ops == [("invoke", "start"), ("fail", "start"), ("invoke", "heal"), ("ok", "heal")]
