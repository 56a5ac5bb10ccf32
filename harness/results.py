"""A scenario run's verdict on disk, and the chaos suite's KPIs drawn from every run.

Each run writes ``reports/runs/<run>/results.json`` (what the checkers said, where the history
is); the chaos suite file ``reports/kpi/chaos.json`` is recomputed from all of them, so several
test modules can each add their scenario without overwriting one another's figures. Across
scenarios the suite reports the worst one (a lossy scenario cannot hide behind clean ones);
recovery times are pooled and their p95 reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.checker import percentile
from harness.kpi import DEFAULT_OUT_DIR, KPIResult, kpi_from_catalogue, write_suite

__all__ = ["ScenarioResult", "chaos_kpis", "collect_dlq", "latest_results", "write_chaos_suite"]

CHAOS_SUITE = "chaos"


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    scenario: str
    run_id: str
    evidence: str
    started: datetime
    finished: datetime
    history: str
    checks: Mapping[str, Any]
    schedule: Mapping[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> Any:
        return self.checks.get("valid", "unknown")

    def check(self, name: str, figure: str) -> Any:
        section = self.checks.get(name)
        return section.get(figure) if isinstance(section, Mapping) else None

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "run_id": self.run_id, "evidence": self.evidence,
                "started": self.started.isoformat(), "finished": self.finished.isoformat(),
                "history": self.history, "valid": self.valid, "schedule": dict(self.schedule),
                "checks": dict(self.checks)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScenarioResult:
        return cls(scenario=str(data["scenario"]), run_id=str(data["run_id"]), evidence=str(data["evidence"]),
                   started=datetime.fromisoformat(data["started"]),
                   finished=datetime.fromisoformat(data["finished"]), history=str(data["history"]),
                   checks=dict(data["checks"]), schedule=dict(data.get("schedule", {})))

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> ScenarioResult:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))


def collect_dlq(data_dirs: Iterable[Path]) -> list[dict[str, Any]]:
    """Every dead-letter entry under the given DATA_DIRs (any JSON object holding message_data)."""
    entries: list[dict[str, Any]] = []
    for data_dir in data_dirs:
        if not data_dir.exists():
            continue
        for path in sorted(data_dir.rglob("*.json")):
            if path.name.startswith("."):
                continue
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            if isinstance(data, dict) and "message_data" in data:
                entries.append({**data, "_file": path.name})
    return entries


def latest_results(reports: Path) -> list[ScenarioResult]:
    """The most recent run of each scenario under ``reports/runs``."""
    latest: dict[str, ScenarioResult] = {}
    for path in sorted((reports / "runs").glob("*/results.json")):
        try:
            result = ScenarioResult.load(path)
        except (OSError, KeyError, ValueError):
            continue
        current = latest.get(result.scenario)
        if current is None or result.finished > current.finished:
            latest[result.scenario] = result
    return sorted(latest.values(), key=lambda r: r.scenario)


def _worst(results: Sequence[ScenarioResult], kpi_id: str, check: str, figure: str,
           worst_is_max: bool) -> KPIResult:
    measured = [(r, r.check(check, figure)) for r in results]
    values = [(r, float(v)) for r, v in measured if v is not None]
    unmeasured = [r.scenario for r, v in measured if v is None]
    if not values:
        return kpi_from_catalogue(kpi_id, None, f"not measured: no scenario produced {check}.{figure}")
    pick = max if worst_is_max else min
    worst_result, worst_value = pick(values, key=lambda pair: pair[1])
    detail = ", ".join(f"{r.scenario}={v:.4g}" for r, v in values)
    evidence = f"{worst_result.evidence} (worst, run {worst_result.run_id}); per scenario: {detail}"
    if unmeasured:
        evidence += f"; not measured in {', '.join(unmeasured)}"
    return kpi_from_catalogue(kpi_id, worst_value, evidence)


def chaos_kpis(results: Sequence[ScenarioResult]) -> list[KPIResult]:
    kpis = [
        _worst(results, "message_delivery_rate", "delivery", "message_delivery_rate", worst_is_max=False),
        _worst(results, "message_loss_rate", "delivery", "message_loss_rate", worst_is_max=True),
        _worst(results, "dlq_accounted", "delivery", "dlq_accounted", worst_is_max=False),
        _worst(results, "availability_during_nats_faults", "availability",
               "availability_during_nats_faults", worst_is_max=False),
    ]
    times = [float(t) for r in results for t in (r.check("recovery", "recovery_s") or [])]
    unrecovered = [f"{r.scenario}:{w}" for r in results for w in (r.check("recovery", "unrecovered") or [])]
    if times and not unrecovered:
        evidence = f"p95 of {len(times)} recoveries over {len(results)} scenarios"
        kpis.append(kpi_from_catalogue("nats_recovery_s", percentile(times, 95), evidence))
        kpis.append(kpi_from_catalogue("nats_recovery_max_s", max(times), evidence))
    elif unrecovered:
        kpis.append(kpi_from_catalogue("nats_recovery_s", None,
                                       f"not recovered after heal: {', '.join(unrecovered)}"))
    else:
        kpis.append(kpi_from_catalogue("nats_recovery_s", None, "not measured: no fault window healed"))
    return kpis


def write_chaos_suite(reports: Path, out_dir: Path | None = None) -> Path:
    """Recompute ``reports/kpi/chaos.json`` from the latest run of every scenario."""
    results = latest_results(reports)
    if not results:
        raise FileNotFoundError(f"no scenario results under {reports / 'runs'}")
    started = min(r.started for r in results)
    finished = max(r.finished for r in results)
    return write_suite(CHAOS_SUITE, chaos_kpis(results), started=started, finished=finished,
                       out_dir=out_dir or reports / DEFAULT_OUT_DIR.name)


def now() -> datetime:
    return datetime.now(UTC)
