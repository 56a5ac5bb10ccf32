"""A scenario run's verdict on disk, and the chaos suite's KPIs drawn from every run.

Each run writes ``reports/runs/<run>/results.json`` (what the checkers said, where the history
is); the chaos suite file ``reports/kpi/chaos.json`` is computed from a set of runs: the ones a
test session made, or the latest run of every scenario. Delivery, loss and DLQ figures are
pooled over every acknowledged message, availability is the minimum over scenarios, and
recovery times are pooled and their p95 reported; per-scenario figures stay in the evidence.
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


def _scenario_detail(results: Sequence[ScenarioResult], check: str, figure: str) -> str:
    parts = [f"{r.scenario}={v:.4g}" for r in results if (v := r.check(check, figure)) is not None]
    return ", ".join(parts) or "none"


def _count(result: ScenarioResult, figure: str) -> int:
    value = result.check("delivery", figure)
    return int(value) if value is not None else 0


def _pooled_delivery(results: Sequence[ScenarioResult]) -> list[KPIResult]:
    """Delivery and loss over every acknowledged message of every scenario, DLQ over every failure."""
    acknowledged = sum(_count(r, "acknowledged") for r in results)
    delivered = sum(_count(r, "delivered") for r in results)
    lost = sum(_count(r, "lost") for r in results)
    expected = sum(_count(r, "dlq_expected") for r in results)
    accounted = sum(_count(r, "dlq_accounted_count") for r in results)
    names = ", ".join(r.scenario for r in results)
    if not acknowledged:
        reason = f"not measured: no acknowledged message had a recipient who stayed connected ({names})"
        return [kpi_from_catalogue(k, None, reason)
                for k in ("message_delivery_rate", "message_loss_rate", "dlq_accounted")]
    over = f"over {acknowledged} acknowledged messages in {len(results)} scenarios"
    return [
        kpi_from_catalogue("message_delivery_rate", delivered / acknowledged,
                           f"{delivered} delivered {over}; per scenario: "
                           f"{_scenario_detail(results, 'delivery', 'message_delivery_rate')}"),
        kpi_from_catalogue("message_loss_rate", lost / acknowledged,
                           f"{lost} lost {over}; per scenario: "
                           f"{_scenario_detail(results, 'delivery', 'message_loss_rate')}"),
        kpi_from_catalogue("dlq_accounted", accounted / expected if expected else 1.0,
                           f"{accounted} of {expected} undelivered or refused messages in the DLQ exactly once; "
                           f"per scenario: {_scenario_detail(results, 'delivery', 'dlq_accounted')}"),
    ]


def _pooled_replay(results: Sequence[ScenarioResult]) -> KPIResult:
    entries = sum(int(r.check("replay", "dlq_entries") or 0) for r in results)
    replayed = sum(int(r.check("replay", "replayed") or 0) for r in results)
    unknown = [r.scenario for r in results if r.check("replay", "valid") == "unknown"]
    if unknown:
        return kpi_from_catalogue("dlq_replayed", None, f"not measured: no replay ran in {', '.join(unknown)}")
    if not entries:
        return kpi_from_catalogue("dlq_replayed", None, "not measured: no scenario left anything in the DLQ")
    return kpi_from_catalogue("dlq_replayed", replayed / entries,
                              f"{replayed} of {entries} dead-lettered lines delivered after an admin replay; "
                              f"per scenario: {_scenario_detail(results, 'replay', 'dlq_replayed')}")


def _min_availability(results: Sequence[ScenarioResult]) -> KPIResult:
    values = [(r, float(v)) for r in results
              if (v := r.check("availability", "availability_during_nats_faults")) is not None]
    if not values:
        return kpi_from_catalogue("availability_during_nats_faults", None,
                                  "not measured: no probe ran while a NATS fault was active")
    worst, value = min(values, key=lambda pair: pair[1])
    detail = _scenario_detail(results, "availability", "availability_during_nats_faults")
    return kpi_from_catalogue("availability_during_nats_faults", value,
                              f"{worst.evidence} (min, run {worst.run_id}); per scenario: {detail}")


def chaos_kpis(results: Sequence[ScenarioResult]) -> list[KPIResult]:
    """The chaos suite's KPIs: pooled delivery, loss and DLQ, minimum availability, recovery p95.

    Pooling counts every acknowledged message once, so a long scenario weighs what it sent; each
    scenario's own figures stay in the evidence, and each scenario's test asserts them alone, so
    a lossy scenario cannot hide behind clean ones.
    """
    kpis = [*_pooled_delivery(results), _min_availability(results), _pooled_replay(results)]
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


def write_chaos_suite(reports: Path, out_dir: Path | None = None,
                      results: Sequence[ScenarioResult] | None = None, *,
                      started: datetime | None = None) -> Path:
    """Write ``reports/kpi/chaos.json`` from ``results`` (default: the latest run of every scenario).

    A test session passes the runs it made, so a fast subset is not mixed with stale runs of
    scenarios it did not run.
    """
    results = list(results) if results is not None else latest_results(reports)
    if not results:
        raise FileNotFoundError(f"no scenario results under {reports / 'runs'}")
    finished = max(r.finished for r in results)
    if started is None:
        started = min(r.started for r in results)
    else:
        # A session that ran more than the scenarios (a test session) passes its own start and
        # ends now: the report's wall time per suite is then the session's.
        started, finished = min(started, *(r.started for r in results)), max(finished, now())
    return write_suite(CHAOS_SUITE, chaos_kpis(results), started=started, finished=finished,
                       out_dir=out_dir or reports / DEFAULT_OUT_DIR.name)


def now() -> datetime:
    return datetime.now(UTC)
