"""The release verdict: every KPI file of a run judged against harness/kpi.py's catalogue only.

``harness gate`` and ``harness report`` both call :func:`judge`, so they cannot disagree. The
gate fails closed: it passes only when the run manifest lists every suite as finished with exit
code 0, every KPI file belongs to this run and this commit, no file disagrees with the
catalogue, and every gated KPI is measured, finite, not vetoed, backed by all planned
scenarios (and by the minimum sample in a full run) and within its spec threshold.
Each failure is one line, naming the file, suite, KPI or scenario.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.kpi import (
    CATALOGUE,
    EXTRA_KPIS,
    PENDING,
    VETO_STORED_FAILED,
    KPIResult,
    KPISpec,
    SuiteReport,
    compare,
    load_suite,
    not_measured,
)
from harness.run_manifest import MANIFEST_NAME, RunManifest, load_manifest
from harness.run_stamp import head_commit

__all__ = ["ALWAYS_SHOWN", "FileStatus", "MergedKPI", "Verdict", "judge", "kpi_files", "merge_kpis",
           "spec_disagreements"]

ALWAYS_SHOWN = ("dependency_audit",)
"""Shown as not measured when no suite measured them, so their absence is visible, not silent."""


@dataclass(frozen=True, slots=True)
class MergedKPI:
    """The KPI entry that stands for an id: the worst accepted result, with where it came from."""

    result: KPIResult
    suite: str
    gated: bool
    file: str = ""
    stale: bool = False
    missing_scenarios: tuple[str, ...] = ()

    @property
    def pending(self) -> bool:
        return self.result.id in PENDING

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "suite": self.suite, "gated": self.gated, "pending": self.pending,
                "file": self.file, "stale": self.stale, "missing_scenarios": list(self.missing_scenarios),
                "measured": self.result.measured, "finite": self.result.finite,
                "goal_met": self.result.goal_met, "distance_to_goal": self.result.distance_to_goal}


@dataclass(frozen=True, slots=True)
class FileStatus:
    """One reports/kpi/*.json file as the gate saw it."""

    file: str
    suite: str | None
    run: dict[str, Any] | None
    stale: str | None = None
    refused: tuple[str, ...] = ()
    unreadable: str | None = None
    missing_scenarios: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()
    report: SuiteReport | None = None

    def to_dict(self) -> dict[str, Any]:
        report = self.report
        return {"file": self.file, "suite": self.suite, "run": self.run, "stale": self.stale,
                "refused": list(self.refused), "unreadable": self.unreadable,
                "missing_scenarios": list(self.missing_scenarios), "failures": list(self.failures),
                "planned": None if report is None or report.planned is None else list(report.planned),
                "started": None if report is None else report.started.isoformat(),
                "finished": None if report is None else report.finished.isoformat(),
                "wall_time_s": None if report is None else report.wall_time_s,
                "kpis": 0 if report is None else len(report.kpis)}


@dataclass(frozen=True, slots=True)
class Verdict:
    reasons: tuple[str, ...]
    merged: Mapping[str, MergedKPI]
    files: tuple[FileStatus, ...]
    manifest: RunManifest | None
    manifest_error: str | None
    head: str
    allow_stale: bool
    failed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    pending: tuple[str, ...] = field(default_factory=lambda: tuple(k for k in CATALOGUE if k in PENDING))

    @property
    def passed(self) -> bool:
        return not self.reasons

    @property
    def suites(self) -> list[SuiteReport]:
        """The accepted suite reports (readable, not refused)."""
        return [f.report for f in self.files if f.report is not None and not f.refused]

    @property
    def stale_files(self) -> tuple[FileStatus, ...]:
        return tuple(f for f in self.files if f.stale)

    def pending_lines(self) -> list[str]:
        out = []
        for kpi_id in self.pending:
            spec = CATALOGUE[kpi_id]
            entry = self.merged.get(kpi_id)
            value = "not measured" if entry is None or not entry.result.measured else \
                f"{entry.result.value:g} {spec.unit}"
            out.append(f"pending {kpi_id}: not gated yet ({value}; measured by {', '.join(spec.measured_by)})")
        return out

    def summary(self) -> str:
        if self.passed:
            stale = f" ({len(self.stale_files)} stale file(s) accepted by --allow-stale)" if self.stale_files else ""
            return f"gate passed: every gated KPI measured on this run and commit and within spec{stale}"
        return (f"gate FAILED: {len(self.reasons)} reason(s); {len(self.failed)} KPI(s) failed, "
                f"{len(self.missing)} missing")

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reasons": list(self.reasons), "failed": list(self.failed),
                "missing": list(self.missing), "pending": list(self.pending), "head": self.head,
                "allow_stale": self.allow_stale, "manifest_error": self.manifest_error,
                "stale_files": [f.file for f in self.stale_files]}


def kpi_files(kpi_dir: Path) -> list[Path]:
    """Every suite file of reports/kpi/ (the run manifest is not one)."""
    return [p for p in sorted(kpi_dir.glob("*.json")) if p.name != MANIFEST_NAME]


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def spec_disagreements(result: KPIResult, spec: KPISpec) -> list[str]:
    """Where a stored result's comparator, threshold, goal or unit differs from the catalogue."""
    out = []
    if result.comparator != spec.comparator:
        out.append(f"comparator {result.comparator!r} (catalogue {spec.comparator!r})")
    if not _same(result.threshold, spec.threshold):
        out.append(f"threshold {result.threshold} (catalogue {spec.threshold})")
    if not _same(result.goal, spec.goal):
        out.append(f"goal {result.goal} (catalogue {spec.goal})")
    if result.unit != spec.unit:
        out.append(f"unit {result.unit!r} (catalogue {spec.unit!r})")
    return out


def _refusals(report: SuiteReport) -> tuple[str, ...]:
    out = []
    for result in report.kpis:
        spec = CATALOGUE.get(result.id) or EXTRA_KPIS.get(result.id)
        if spec is None:
            out.append(f"{result.id}: not a catalogue KPI")
            continue
        diff = spec_disagreements(result, spec)
        if diff:
            out.append(f"{result.id}: {', '.join(diff)}")
    return tuple(out)


def _staleness(report: SuiteReport, manifest: RunManifest | None, head: str) -> str | None:
    run = report.run
    if run is None:
        return "no run stamp (written before stamping or by hand)"
    reasons = []
    if manifest is not None and run.id != manifest.id:
        reasons.append(f"run {run.id!r}, not this run {manifest.id!r}")
    if run.commit != head:
        reasons.append(f"commit {run.commit[:12]}, not HEAD {head[:12]}")
    return "; ".join(reasons) or None


def _vetoed(report: SuiteReport, missing: tuple[str, ...]) -> tuple[KPIResult, ...]:
    """The file's results with the file-wide vetoes applied: failed checks, missing scenarios."""
    veto = []
    if missing:
        veto.append(f"not measured: planned scenarios without a verdict: {', '.join(missing)}")
    if report.failures:
        veto.append(f"suite failures: {'; '.join(report.failures)}")
    if not veto:
        return report.kpis
    text = "; ".join(veto)
    return tuple(dataclasses.replace(k, vetoed=f"{k.vetoed}; {text}" if k.vetoed else text) for k in report.kpis)


def _badness(entry: MergedKPI) -> tuple[int, float]:
    r = entry.result
    return (0 if not r.passed else 1, -(r.distance_to_goal or 0.0))


def _adds_evidence(result: KPIResult, spec: KPISpec) -> bool:
    """A KPI from a suite the catalogue does not name for it (the cluster suite pools the chaos
    figures of its own runs) counts when it measured something, on a full sample: then its
    worse figure stands. A figure it could not measure (no DLQ left to replay) or drew from too
    few lines leaves the measuring suite's figure standing instead of failing it."""
    if not result.measured or not result.finite:
        return False
    return spec.min_sample is None or (result.sample or 0) >= spec.min_sample


def merge_kpis(files: Sequence[FileStatus] | Sequence[SuiteReport]) -> dict[str, MergedKPI]:
    """One entry per KPI id; when several files report one, the worst stands (failed, then farthest)."""
    merged: dict[str, MergedKPI] = {}
    reporters: dict[str, set[str]] = {}
    for item in files:
        status = item if isinstance(item, FileStatus) else FileStatus(f"{item.suite}.json", item.suite, None,
                                                                     report=item)
        if status.report is None or status.refused:
            continue
        report = status.report
        for result in _vetoed(report, status.missing_scenarios):
            spec = CATALOGUE.get(result.id)
            if spec is not None and report.suite not in spec.measured_by and not _adds_evidence(result, spec):
                continue
            entry = MergedKPI(result, report.suite, spec is not None and spec.gated, status.file,
                              status.stale is not None, status.missing_scenarios)
            reporters.setdefault(result.id, set()).add(report.suite)
            current = merged.get(result.id)
            if current is None or _badness(entry) < _badness(current):
                merged[result.id] = entry
    for kpi_id, entry in list(merged.items()):
        # A KPI measured by several suites stands only when every one of them reported it: the
        # other suite's figure alone would hide that half of the measurement never ran.
        spec = CATALOGUE.get(kpi_id)
        absent = sorted(set(spec.measured_by) - reporters.get(kpi_id, set())) if spec else []
        if spec is not None and len(spec.measured_by) > 1 and absent:
            merged[kpi_id] = dataclasses.replace(
                entry, result=not_measured(kpi_id, f"suite(s) {', '.join(absent)} did not report it"))
    for kpi_id in ALWAYS_SHOWN:
        if kpi_id not in merged:
            merged[kpi_id] = MergedKPI(not_measured(kpi_id, "no suite measured it"), "-", False)
    order = {k: i for i, k in enumerate([*CATALOGUE, *EXTRA_KPIS])}
    return dict(sorted(merged.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))


def _kpi_failure(entry: MergedKPI, spec: KPISpec, full: bool) -> str | None:
    """Why a gated KPI fails, or None."""
    r = entry.result
    where = f"{entry.file or entry.suite}; {r.evidence}"
    if not r.measured:
        why = "not measured"
    elif not r.finite:
        why = f"{r.value} is not a finite number"
    elif not compare(r.value, spec.comparator, spec.threshold):
        bound = ("a finite measurement" if spec.threshold is None
                 else f"{spec.comparator} {spec.threshold:g} {spec.unit}")
        why = f"{r.value:g} {r.unit}, spec {bound}"
    else:
        why = ""
    veto = r.vetoed
    if veto == VETO_STORED_FAILED and why:
        veto = None  # the stored flag only agrees with what the value says
    if veto:
        return f"{why or f'{r.value:g} {r.unit}'}, vetoed: {veto} ({where})"
    if why:
        return f"{why} ({where})"
    if full and spec.min_sample is not None and (r.sample is None or r.sample < spec.min_sample):
        got = "no sample recorded" if r.sample is None else f"sample {r.sample}"
        return f"{got}, a full run needs >= {spec.min_sample} ({where})"
    return None


def judge(reports: Path, *, allow_stale: bool = False, head: str | None = None) -> Verdict:
    """Judge the run under ``reports`` (reports/kpi/run.json and reports/kpi/*.json)."""
    head = head_commit() if head is None else head
    reasons: list[str] = []
    manifest: RunManifest | None = None
    manifest_error: str | None = None
    try:
        manifest = load_manifest(reports)
    except ValueError as exc:
        manifest_error = str(exc)
        reasons.append(f"RUN     {exc}")
    if manifest is not None:
        if manifest.commit != head and not allow_stale:
            reasons.append(f"RUN     {MANIFEST_NAME} is from commit {manifest.commit[:12]}, HEAD is {head[:12]}")
        for suite in manifest.suites:
            outcome = manifest.outcomes.get(suite)
            if outcome is None:
                reasons.append(f"SUITE   {suite}: no outcome recorded (did not finish)")
        for suite, outcome in manifest.outcomes.items():
            if outcome.exit_code != 0:
                note = f" ({outcome.note})" if outcome.note else ""
                reasons.append(f"SUITE   {suite}: exit code {outcome.exit_code}{note}")

    files: list[FileStatus] = []
    for path in kpi_files(reports / "kpi"):
        try:
            report = load_suite(path)
        except ValueError as exc:
            files.append(FileStatus(path.name, None, None, unreadable=str(exc)))
            reasons.append(f"UNREADABLE {path.name}: {exc}")
            continue
        status = FileStatus(path.name, report.suite, None if report.run is None else report.run.to_dict(),
                            stale=_staleness(report, manifest, head), refused=_refusals(report),
                            missing_scenarios=report.missing_scenarios, failures=report.failures, report=report)
        files.append(status)
        reasons.extend(f"REFUSED {path.name}: {why}; its figures are ignored" for why in status.refused)
        if status.stale and not allow_stale:
            reasons.append(f"STALE   {path.name}: {status.stale} (--allow-stale accepts it)")
        reasons.extend(f"VETOED  {path.name}: {failure}" for failure in report.failures)
        if status.missing_scenarios:
            reasons.append(f"SCENARIO {path.name}: planned but returned no verdict: "
                           f"{', '.join(status.missing_scenarios)}")

    merged = merge_kpis(files)
    full = manifest is not None and manifest.full
    failed, missing = [], []
    for kpi_id, spec in CATALOGUE.items():
        if not spec.gated:
            continue
        entry = merged.get(kpi_id)
        if entry is None:
            missing.append(kpi_id)
            reasons.append(f"MISSING {kpi_id}: no accepted file reported it (measured by "
                           f"{', '.join(spec.measured_by)})")
            continue
        why = _kpi_failure(entry, spec, full)
        if why is not None:
            failed.append(kpi_id)
            reasons.append(f"FAILED  {kpi_id}: {why}")
    return Verdict(tuple(reasons), merged, tuple(files), manifest, manifest_error, head, allow_stale,
                   tuple(failed), tuple(missing))
