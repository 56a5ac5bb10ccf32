"""The one-world rows of the cluster suite: ``double_sessions``, ``cross_server_eviction_s`` and
``alias_propagation_ms``, pooled over the runs whose checkers measured them.

Each figure is drawn from the checker sections the runs saved (``sessions``,
``alias_propagation``), never from a constant: rounds are summed, eviction times and alias
samples pooled and their p95 taken. Rounds that ended with no live session, or with the older of
two sequential logins alive, or with a session ended neither by eviction nor by refusal, veto
``double_sessions``: exactly one session, the other evicted or refused, is the guarantee. A
run whose checker found its workload incomplete (fewer rounds or samples than planned, a
workload that raised) leaves the figure not measured, so a short run cannot pass for a full
one. No run of the workload at all: not measured either.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from harness.cluster.ops import p95
from harness.kpi import KPIResult, kpi_from_catalogue

__all__ = ["ONE_WORLD_KPIS", "one_world_kpis"]

ONE_WORLD_KPIS = ("double_sessions", "cross_server_eviction_s", "alias_propagation_ms")


class Run(Protocol):
    """What a scenario's saved result offers (harness.results.ScenarioResult)."""

    @property
    def scenario(self) -> str: ...

    @property
    def checks(self) -> Mapping[str, Any]: ...


def _sections(results: Sequence[Run], check: str) -> list[tuple[str, Mapping[str, Any]]]:
    return [(r.scenario, section) for r in results
            if isinstance(section := r.checks.get(check), Mapping) and section.get("applicable")]


def _incomplete(sections: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Runs whose workload did not measure all it planned (``complete`` false or missing)."""
    return [f"{scenario}: {'; '.join(map(str, section.get('problems') or ['incomplete']))}"
            for scenario, section in sections if section.get("complete") is not True]


def _sessions(results: Sequence[Run]) -> list[KPIResult]:
    sections = _sections(results, "sessions")
    if not sections:
        reason = "not measured: no run of the split_login or sequential_eviction workloads"
        return [kpi_from_catalogue("double_sessions", None, reason),
                kpi_from_catalogue("cross_server_eviction_s", None, reason)]
    short = _incomplete(sections)
    if short:
        reason = f"not measured: {' | '.join(short)}"
        return [kpi_from_catalogue("double_sessions", None, reason),
                kpi_from_catalogue("cross_server_eviction_s", None, reason)]
    rounds = sum(int(s.get("rounds") or 0) for _, s in sections)
    double = sum(int(s.get("double_sessions") or 0) for _, s in sections)
    empty = sum(int(s.get("no_session_rounds") or 0) for _, s in sections)
    by_kind: dict[str, list[float]] = {}
    for _, section in sections:
        for kind, times in (section.get("eviction_s") or {}).items():
            by_kind.setdefault(str(kind), []).extend(float(t) for t in times)
    pooled = [t for times in by_kind.values() for t in times]
    per_kind = ", ".join(f"{kind}: p95 {p95(times):.3f} s over {len(times)}"
                         for kind, times in sorted(by_kind.items()) if times)
    names = ", ".join(sorted({scenario for scenario, _ in sections}))
    wrong = sum(int(s.get("wrong_winner") or 0) for _, s in sections)
    unexplained = sum(int(s.get("unexplained") or 0) for _, s in sections)
    double_kpi = kpi_from_catalogue(
        "double_sessions", double,
        f"{double} of {rounds} login rounds left two live sessions ({empty} left none, {wrong} kept the older "
        f"login) in {names}", sample=rounds)
    if empty or wrong or unexplained:
        # Not two sessions, but not the guarantee either: it failed without raising the count.
        double_kpi = dataclasses.replace(double_kpi, vetoed=(
            f"{empty} rounds left no live session, {wrong} sequential rounds kept the older login, "
            f"{unexplained} ended a session neither evicted nor refused"))
    if not pooled:
        eviction = kpi_from_catalogue("cross_server_eviction_s", None,
                                      f"not measured: no session was evicted in {rounds} rounds ({names})")
    else:
        eviction = kpi_from_catalogue(
            "cross_server_eviction_s", p95(pooled),
            f"p95 of {len(pooled)} evictions, from the start of the newer session's connect to the older "
            f"one's eviction notice ({per_kind}; max {max(pooled):.3f} s) in {names}", sample=len(pooled))
    return [double_kpi, eviction]


def _aliases(results: Sequence[Run]) -> KPIResult:
    sections = _sections(results, "alias_propagation")
    if not sections:
        return kpi_from_catalogue("alias_propagation_ms", None,
                                  "not measured: no run of the alias_propagation workload")
    short = _incomplete(sections)
    if short:
        return kpi_from_catalogue("alias_propagation_ms", None, f"not measured: {' | '.join(short)}")
    samples = [float(s["ms"]) for _, section in sections for s in section.get("per_sample") or ()]
    if not samples:
        return kpi_from_catalogue("alias_propagation_ms", None, "not measured: no alias change was seen")
    names = ", ".join(sorted({scenario for scenario, _ in sections}))
    return kpi_from_catalogue(
        "alias_propagation_ms", p95(samples),
        f"p95 of {len(samples)} alias changes (definitions and removals in a session on one server), from "
        f"that server's acknowledgement to the first reply showing the change on the next server, the "
        f"session moved there; max {max(samples):.1f} ms; in {names}", sample=len(samples))


def one_world_kpis(results: Sequence[Run]) -> list[KPIResult]:
    """The three one-world KPIs from the cluster suite's runs (not measured when none ran them)."""
    return [*_sessions(results), _aliases(results)]
