"""The browser suite's figures and how they become ``reports/kpi/e2e.json``.

Scenarios record what they measured into one :class:`E2EFigures` per test session, each figure
before the assertions that judge it; :class:`ScenarioLedger` keeps which browser scenarios were
collected, which ran to the end and which failed an assertion. At the end :func:`e2e_kpis`
turns the figures into catalogue KPIs and :func:`write_e2e_report` writes them with that ledger:
a scenario that raised or was skipped leaves every e2e KPI "not measured", a failed assertion
vetoes them. A KPI whose scenario did not run is written as "not measured", never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from harness.a11y import A11yCheck, a11y_kpi
from harness.kpi import DEFAULT_OUT_DIR, KPIResult, kpi_from_catalogue, not_measured, write_suite

if TYPE_CHECKING:
    from harness.herd import HerdRun

__all__ = [
    "LONG_OUTAGE",
    "SUITE",
    "E2EFigures",
    "LoopCheck",
    "Recovery",
    "ScenarioLedger",
    "attempts_seen",
    "e2e_kpis",
    "percentile",
    "write_e2e_report",
]

SUITE = "e2e"
LONG_OUTAGE = "long_outage"
"""The scenario that defines infinite_reconnect_loops; without it the KPI is not measured."""


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: with few runs the p95 is the worst run, never an interpolation."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < pct <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {pct}")
    ordered = sorted(values)
    rank = math.ceil(pct / 100 * len(ordered))
    return ordered[rank - 1]


def attempts_seen(requests: Sequence[object], log: Sequence[Mapping[str, object]] = ()) -> int:
    """Connection attempts in a watched span: the browser's stream requests, or the client's own count
    (the highest ``attempts`` in its transition log) when that is higher.

    Either can reveal a loop the other hides: a machine that resets its counter still sends requests,
    and attempts made over a transport the request counter does not see still count up.
    """
    logged = max((int(str(entry.get("attempts", 0))) for entry in log), default=0)
    return max(len(requests), logged)


@dataclass(frozen=True, slots=True)
class Recovery:
    """One outage: from the server answering again (or the link restored) to fully_connected."""

    scenario: str
    seconds: float


@dataclass(frozen=True, slots=True)
class LoopCheck:
    """Connection attempts the browser made while it should have been giving up or staying down."""

    scenario: str
    attempts: int
    max_attempts: int
    allowed: int
    """The most attempts that are not a loop: ``max_attempts + 1`` in an outage (the drop's own
    first try), 0 after an eviction (the client must not reconnect at all)."""

    @property
    def excess(self) -> int:
        """Attempts beyond ``allowed``; 0 means bounded."""
        return max(0, self.attempts - self.allowed)


@dataclass(slots=True)
class E2EFigures:
    """Everything the scenarios measured in one run of the suite."""

    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    recoveries: list[Recovery] = field(default_factory=list)
    loop_checks: list[LoopCheck] = field(default_factory=list)
    connections_tried: int = 0
    connections_ok: int = 0
    screenshots: dict[str, list[str]] = field(default_factory=dict)
    """Screenshot paths by the KPI id whose evidence links them."""
    a11y: list[A11yCheck] = field(default_factory=list)
    """axe-core runs over the sign-in and game pages (e2e/test_a11y.py)."""
    herds: list[HerdRun] = field(default_factory=list)
    """Server restarts under the herd of client machines (e2e/test_herd.py)."""

    def connection(self, ok: bool) -> None:
        """One login or expected recovery: did it reach a working session (fully_connected)?"""
        self.connections_tried += 1
        self.connections_ok += int(ok)

    def screenshot(self, kpi_id: str, path: Path | str) -> None:
        self.screenshots.setdefault(kpi_id, []).append(str(path))

    def a11y_check(self, check: A11yCheck) -> None:
        self.a11y.append(check)

    def herd(self, run: HerdRun) -> None:
        self.herds.append(run)

    def recovery(self, scenario: str, seconds: float) -> None:
        self.recoveries.append(Recovery(scenario, seconds))

    def loop_check(self, scenario: str, attempts: int, max_attempts: int, *, allowed: int | None = None) -> None:
        limit = max_attempts + 1 if allowed is None else allowed
        self.loop_checks.append(LoopCheck(scenario, attempts, max_attempts, limit))


def e2e_kpis(figures: E2EFigures) -> list[KPIResult]:
    """The e2e catalogue KPIs (the herd's included) from what the scenarios recorded."""
    def shots(kpi_id: str) -> str:
        paths = figures.screenshots.get(kpi_id, [])
        return f"; screenshots: {', '.join(paths)}" if paths else ""

    results: list[KPIResult] = []
    if figures.recoveries:
        values = [r.seconds for r in figures.recoveries]
        runs = ", ".join(f"{r.scenario}={r.seconds:.3f}" for r in figures.recoveries)
        results.append(kpi_from_catalogue(
            "connection_recovery_s", round(percentile(values, 95), 3),
            f"e2e/ server restart and link cut, p95 over {len(values)} runs ({runs})"
            + shots("connection_recovery_s")))
    else:
        results.append(not_measured("connection_recovery_s", "no server-restart or link-cut run finished"))
    if any(c.scenario == LONG_OUTAGE for c in figures.loop_checks):
        detail = ", ".join(f"{c.scenario}: {c.attempts} attempts, {c.allowed} allowed (max {c.max_attempts})"
                           for c in figures.loop_checks)
        results.append(kpi_from_catalogue(
            "infinite_reconnect_loops", float(sum(c.excess for c in figures.loop_checks)),
            f"e2e/test_long_outage.py, test_duplicate_login.py and test_silent_link.py, attempts counted "
            f"from the browser's requests and the client's log ({detail})"
            + shots("infinite_reconnect_loops")))
    else:
        results.append(not_measured("infinite_reconnect_loops", "the long-outage scenario did not run"))
    if figures.connections_tried:
        results.append(kpi_from_catalogue(
            "connection_success_rate", round(figures.connections_ok / figures.connections_tried, 6),
            f"e2e/: {figures.connections_ok} of {figures.connections_tried} logins and recoveries "
            f"reached fully_connected{shots('connection_success_rate')}"))
    else:
        results.append(not_measured("connection_success_rate", "no e2e scenario connected"))
    results.append(a11y_kpi(figures.a11y))
    from harness.herd import herd_kpis  # here, not at the top: harness.herd imports this module

    results.extend(herd_kpis(figures.herds))
    return results


@dataclass(slots=True)
class ScenarioLedger:
    """Which browser scenarios the session collected, which ran to the end, which failed an assertion.

    Fed with pytest's phase reports: a scenario completes when its test body ran to its end or
    stopped at a failed assertion (it measured; the assertion goes to ``failures``). A scenario
    whose setup or teardown raised, whose body raised anything but an assertion, or that was
    skipped does not complete.
    """

    planned: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _broken: set[str] = field(default_factory=set)

    def plan(self, scenarios: Sequence[str]) -> None:
        self.planned = list(scenarios)

    def report(self, scenario: str, when: str, outcome: str, *, assertion: bool = False) -> None:
        """One phase report (``when`` setup/call/teardown, ``outcome`` passed/failed/skipped)."""
        if scenario not in self.planned:
            return
        if when == "call" and (outcome == "passed" or (outcome == "failed" and assertion)):
            if outcome == "failed":
                self.failures.append(scenario)
            if scenario not in self._broken and scenario not in self.completed:
                self.completed.append(scenario)
        elif outcome != "passed":
            self._broken.add(scenario)
            if scenario in self.completed:
                self.completed.remove(scenario)


def write_e2e_report(figures: E2EFigures, out_dir: Path = DEFAULT_OUT_DIR, *, ledger: ScenarioLedger) -> Path:
    """Write ``<out_dir>/e2e.json`` (replacing the previous run's), with the planned and completed
    scenarios and the failed assertions of ``ledger``."""
    return write_suite(SUITE, e2e_kpis(figures), started=figures.started, finished=datetime.now(UTC),
                       out_dir=out_dir, planned=list(ledger.planned), completed=list(ledger.completed),
                       failures=tuple(ledger.failures))
