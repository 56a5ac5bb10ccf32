"""When things happen in a run: the workload's pace and the nemesis's fault windows.

A schedule is data (it round-trips through JSON into the history header); :func:`run_nemesis`
plays its fault windows against a target, recording each start and heal in the history, and
heals every started fault on the way out even if the run is cancelled or fails.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import structlog

from harness.faults.base import Fault, FaultTarget
from harness.faults.registry import make_fault
from harness.history import NEMESIS, F, History

__all__ = ["FaultWindow", "Schedule", "SteadyStateProbe", "run_nemesis"]

log = structlog.get_logger(__name__)

SteadyStateProbe = Callable[[str, str], Awaitable[bool]]
"""``probe(phase, window_id)`` -> the steady state holds; phase is "before" or "after"."""


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """Fault ``fault`` with ``params`` from ``at_s`` (after the workload starts) for ``duration_s``."""

    fault: str
    at_s: float
    duration_s: float
    params: Mapping[str, Any] = field(default_factory=dict)
    id: str = ""

    def __post_init__(self) -> None:
        if self.at_s < 0 or self.duration_s <= 0:
            raise ValueError(f"fault window needs at_s >= 0 and duration_s > 0, "
                             f"got {self.at_s}, {self.duration_s}")
        make_fault(self.fault, **self.params)  # fail at definition, not mid-run

    @property
    def window_id(self) -> str:
        return self.id or f"{self.fault}@{self.at_s:g}s"

    @property
    def heal_at_s(self) -> float:
        return self.at_s + self.duration_s

    def build(self) -> Fault:
        return make_fault(self.fault, **self.params)


@dataclass(frozen=True, slots=True)
class Schedule:
    """The workload runs ``duration_s``; then ``settle_s`` lets in-flight messages land before the drain."""

    duration_s: float
    windows: tuple[FaultWindow, ...] = ()
    send_interval_s: float = 0.25
    probe_interval_s: float = 0.5
    settle_s: float = 5.0
    recovery_timeout_s: float = 15.0

    def __post_init__(self) -> None:
        for window in self.windows:
            if window.heal_at_s > self.duration_s:
                raise ValueError(f"{window.window_id} heals at {window.heal_at_s:g} s, after the workload "
                                 f"ends at {self.duration_s:g} s: recovery could not be observed")
        ids = [w.window_id for w in self.windows]
        if len(ids) != len(set(ids)):
            raise ValueError(f"fault window ids must be unique: {ids}")

    @property
    def total_s(self) -> float:
        return self.duration_s + self.settle_s

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["windows"] = [{**asdict(w), "params": dict(w.params), "id": w.window_id} for w in self.windows]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schedule:
        windows = tuple(FaultWindow(**w) for w in data.get("windows", ()))
        return cls(**{**dict(data), "windows": windows})


async def _call(history: History, f: str, window: FaultWindow, action: Callable[[], None],
                fault: Fault | None = None) -> bool:
    """Run one nemesis action, recorded; a fault that chose its target at run time (which node
    led the stream) says so in its ``effect``, kept in the completion's value."""
    value = {"fault": window.fault, "window": window.window_id, "params": dict(window.params)}
    invocation = history.invoke(NEMESIS, f, value)
    try:
        await asyncio.to_thread(action)
    except Exception as exc:  # recorded, and the heal still runs
        history.fail(invocation, f"{type(exc).__name__}: {exc}")
        log.warning("nemesis_op_failed", op=f, window=window.window_id, error=str(exc))
        return False
    effect = getattr(fault, "effect", None)
    history.ok(invocation, {**value, "effect": effect} if effect is not None else None)
    return True


async def _sleep_until(history: History, origin: float, at_s: float) -> None:
    delay = origin + at_s - history.now()
    if delay > 0:
        await asyncio.sleep(delay)


async def run_nemesis(schedule: Schedule, target: FaultTarget, history: History, *,
                      steady_state: SteadyStateProbe | None = None, origin: float | None = None) -> None:
    """Play every fault window (in start order, one at a time) and heal each, whatever happens."""
    origin = history.now() if origin is None else origin
    for window in sorted(schedule.windows, key=lambda w: w.at_s):
        await _sleep_until(history, origin, window.at_s)
        if steady_state is not None:
            await _steady(history, steady_state, "before", window)
        fault = window.build()
        try:
            await _call(history, F.START, window, functools.partial(fault.start, target), fault)
            await _sleep_until(history, origin, window.heal_at_s)
        finally:
            # Shielded: a cancelled run must not leave a partition or a dead nats-server behind.
            await asyncio.shield(_call(history, F.HEAL, window, functools.partial(fault.heal, target)))
        if steady_state is not None:
            await _steady(history, steady_state, "after", window)


async def _steady(history: History, probe: SteadyStateProbe, phase: str, window: FaultWindow) -> None:
    value = {"phase": phase, "fault": window.fault, "window": window.window_id}
    invocation = history.invoke("probe", F.STEADY, value)
    try:
        held = await probe(phase, window.window_id)
    except Exception as exc:
        history.fail(invocation, f"{type(exc).__name__}: {exc}")
        return
    if held:
        history.ok(invocation)
    else:
        history.fail(invocation, "steady state did not hold")
