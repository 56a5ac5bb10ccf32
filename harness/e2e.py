"""The browser suite's figures and how they become ``reports/kpi/e2e.json``.

Scenarios record what they measured into one :class:`E2EFigures` per test session; at the end
:func:`e2e_kpis` turns the figures into catalogue KPIs. A KPI whose scenario did not run is
written as "not measured" (and so fails the gate) rather than guessed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from harness.kpi import DEFAULT_OUT_DIR, KPIResult, kpi_from_catalogue, not_measured, write_suite

__all__ = ["LONG_OUTAGE", "SUITE", "E2EFigures", "LoopCheck", "Recovery", "e2e_kpis", "percentile", "write_e2e_report"]

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

    def connection(self, ok: bool) -> None:
        """One login or expected recovery: did it reach a working session (fully_connected)?"""
        self.connections_tried += 1
        self.connections_ok += int(ok)

    def screenshot(self, kpi_id: str, path: Path | str) -> None:
        self.screenshots.setdefault(kpi_id, []).append(str(path))

    def recovery(self, scenario: str, seconds: float) -> None:
        self.recoveries.append(Recovery(scenario, seconds))

    def loop_check(self, scenario: str, attempts: int, max_attempts: int, *, allowed: int | None = None) -> None:
        limit = max_attempts + 1 if allowed is None else allowed
        self.loop_checks.append(LoopCheck(scenario, attempts, max_attempts, limit))


def e2e_kpis(figures: E2EFigures) -> list[KPIResult]:
    """The three e2e catalogue KPIs from what the scenarios recorded."""
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
            f"e2e/test_long_outage.py and test_duplicate_login.py, attempts counted from the "
            f"browser's requests ({detail})"
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
    return results


def write_e2e_report(figures: E2EFigures, out_dir: Path = DEFAULT_OUT_DIR) -> Path:
    """Write ``<out_dir>/e2e.json`` (replacing the previous run's)."""
    return write_suite(SUITE, e2e_kpis(figures), started=figures.started,
                       finished=datetime.now(UTC), out_dir=out_dir)
