"""A scenario run's verdict on disk, and the chaos suite's KPIs drawn from every run.

Each run writes ``reports/runs/<run>/results.json`` (what the checkers said, where the history
is); the chaos suite file ``reports/kpi/chaos.json`` is computed from a set of runs: the ones a
test session made, or the latest run of every scenario. Delivery, loss and DLQ figures are
pooled over every acknowledged message, answered and accepted-during-faults over every line
said, availability is the minimum over scenarios, and per-server recovery times are pooled and
their p95 reported; per-scenario figures stay in the evidence.

The suite file also says which scenarios were planned and which returned a verdict (a missing
one leaves every KPI of the file not measured), and names each failed check that is not a KPI
(duplicates, ordering, steady state, link FSM, replay): any of those vetoes the file's KPIs.

Scenarios on a NATS cluster go to their own suite file, ``reports/kpi/cluster.json`` (the
catalogue's "cluster" suite): the same pooled chaos KPIs over the cluster scenarios, plus
``cluster_failover_s``, the p95 of the ``failover`` checker's per-server times. A run of the
single-node scenarios then never overwrites the cluster figures, nor the reverse.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.alerts import alert_kpis
from harness.checker import percentile
from harness.cluster.kpis import one_world_kpis
from harness.history import dlq_entry_body
from harness.kpi import DEFAULT_OUT_DIR, KPIResult, kpi_from_catalogue, write_suite

__all__ = ["CHAOS_SUITE", "CLUSTER_SUITE", "ScenarioResult", "chaos_kpis", "check_failures", "collect_dlq",
           "latest_results", "suite_of", "write_chaos_suite"]

CHAOS_SUITE = "chaos"
CLUSTER_SUITE = "cluster"

NON_KPI_CHECKS: tuple[tuple[str, str], ...] = (
    ("duplicates", "duplicates"),
    ("ordering", "ordering"),
    ("steady_state", "steady state"),
    ("transitions", "link FSM / breaker"),
    ("replay", "replay"),
    ("replay_settled", "DLQ after replay"),
    ("latency", "reception before send"),
    ("timeline", "reception of a line never said"),
    ("rate_budget", "cluster-wide rate budget"),
    ("rooms", "rooms through the database outage"),
)
"""Checks whose failure is not a KPI value: each failed one vetoes the suite's KPIs, by name."""


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


def check_failures(result: ScenarioResult) -> list[str]:
    """"<scenario>: <check>" for each non-KPI check of the run that failed or could not judge.

    A check the run did not ask for (absent from its results) is not a failure; one that says
    "unknown" is: not judged is not green.
    """
    failures = []
    for name, label in NON_KPI_CHECKS:
        section = result.checks.get(name)
        if isinstance(section, Mapping) and section.get("valid") is not True:
            verdict = "unknown" if section.get("valid") == "unknown" else "failed"
            failures.append(f"{result.scenario}: {label} {verdict}")
    return failures


def collect_dlq(data_dirs: Iterable[Path]) -> list[dict[str, Any]]:
    """Every dead-letter entry under the given DATA_DIRs (any JSON object holding a chat body)."""
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
            if isinstance(data, dict) and "id" in data and dlq_entry_body(data) is not None:
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


def _pooled_acceptance(results: Sequence[ScenarioResult]) -> list[KPIResult]:
    """Answered over every line said; accepted over every line said under a NATS fault."""
    def total(figure: str) -> int:
        return sum(int(r.check("acceptance", figure) or 0) for r in results)

    def detail(rate: str, refused: str) -> str:
        parts = [f"{r.scenario}={v:.4g} ({int(r.check('acceptance', refused) or 0)} refused)"
                 for r in results if (v := r.check("acceptance", rate)) is not None]
        return ", ".join(parts) or "none"

    missing = [r.scenario for r in results if not isinstance(r.checks.get("acceptance"), Mapping)]
    if missing:
        reason = f"not measured: the acceptance check did not run in {', '.join(missing)}"
        return [kpi_from_catalogue(k, None, reason) for k in ("chat_answered_rate", "chat_accepted_during_faults")]
    sent, answered, refused = total("sent"), total("answered"), total("refused")
    during, accepted = total("sent_during_faults"), total("accepted_during_faults")
    faulted = [r.scenario for r in results if r.check("acceptance", "applicable")]
    unjudged = [r.scenario for r in results if r.check("acceptance", "applicable")
                and not r.check("acceptance", "sent_during_faults")]
    kpis = [kpi_from_catalogue(
        "chat_answered_rate", answered / sent if sent else None,
        (f"{answered} of {sent} lines got a reply ({refused} refused, {sent - answered} unanswered) "
         f"in {len(results)} scenarios; per scenario: {detail('chat_answered_rate', 'refused')}")
        if sent else "not measured: no chat line was sent")]
    if unjudged or not during:
        reason = (f"no line was said under the NATS faults of {', '.join(unjudged)}" if unjudged
                  else "no scenario had a NATS fault")
        kpis.append(kpi_from_catalogue("chat_accepted_during_faults", None, f"not measured: {reason}"))
    else:
        kpis.append(kpi_from_catalogue(
            "chat_accepted_during_faults", accepted / during,
            f"{accepted} of {during} lines said under NATS faults accepted (ok or queued with a DLQ id), "
            f"{total('refused_during_faults')} refused, {total('unanswered_during_faults')} unanswered, "
            f"in {len(faulted)} scenarios; per scenario: "
            f"{detail('chat_accepted_during_faults', 'refused_during_faults')}"))
    return kpis


def _pooled_recovery(results: Sequence[ScenarioResult]) -> list[KPIResult]:
    """p95 over every (fault window, affected server) of every scenario, from that server's players."""
    rows = [(r.scenario, row) for r in results for row in (r.check("recovery", "per_server") or [])]
    times = [float(row["recovery_s"]) for _, row in rows if row.get("recovery_s") is not None]
    unrecovered = [f"{r.scenario}:{w}" for r in results for w in (r.check("recovery", "unrecovered") or [])]
    unhealed = [f"{r.scenario}:{w}" for r in results for w in (r.check("recovery", "unhealed") or [])]
    if unrecovered or unhealed:
        reason = (f"not recovered after heal: {', '.join(unrecovered)}" if unrecovered
                  else f"fault never healed: {', '.join(unhealed)}")
        return [kpi_from_catalogue("nats_recovery_s", None, reason),
                kpi_from_catalogue("nats_recovery_max_s", None, reason)]
    if not times:
        reason = "not measured: no affected server received a line after a heal"
        return [kpi_from_catalogue("nats_recovery_s", None, reason),
                kpi_from_catalogue("nats_recovery_max_s", None, reason)]
    per = ", ".join(f"{scenario}/{row['server']}={float(row['recovery_s']):.3g}"
                    for scenario, row in rows if row.get("recovery_s") is not None)
    evidence = (f"p95 of {len(times)} per-server recoveries (first line a player of the affected "
                f"server received after the heal) over {len(results)} scenarios: {per}")
    return [kpi_from_catalogue("nats_recovery_s", percentile(times, 95), evidence),
            kpi_from_catalogue("nats_recovery_max_s", max(times), evidence)]


def _pooled_failover(results: Sequence[ScenarioResult]) -> KPIResult:
    """cluster_failover_s: p95 over every (node kill, game server) of every scenario that killed a node."""
    killed = [r for r in results if r.check("failover", "applicable")]
    if not killed:
        return kpi_from_catalogue("cluster_failover_s", None, "not measured: no scenario SIGKILLed a NATS node")
    rows = [(r.scenario, row) for r in killed for row in (r.check("failover", "per_server") or [])]
    unrecovered = [f"{r.scenario}:{w}" for r in killed for w in (r.check("failover", "unrecovered") or [])]
    if unrecovered:
        return kpi_from_catalogue("cluster_failover_s", None,
                                  f"chat never flowed again after the kill: {', '.join(unrecovered)}")
    times = [float(row["failover_s"]) for _, row in rows if row.get("failover_s") is not None]
    if not times:
        return kpi_from_catalogue("cluster_failover_s", None,
                                  "not measured: no player said a line after a NATS node was killed")
    per = ", ".join(f"{scenario}/{row['server']} (killed {row.get('killed')})={float(row['failover_s']):.3g}"
                    for scenario, row in rows if row.get("failover_s") is not None)
    return kpi_from_catalogue(
        "cluster_failover_s", percentile(times, 95),
        f"p95 of {len(times)} per-server failovers (from a NATS node's SIGKILL to the first line said after "
        f"it by a player of the server that came back to that server's players) over {len(killed)} "
        f"scenarios: {per}", sample=len(times))


def _pooled_outbox(results: Sequence[ScenarioResult]) -> list[KPIResult]:
    """chat_delivered_after_outage over every due queued line of every scenario; outbox_drain_s the
    slowest drain after any heal, resting on the most lines one heal drained (its sample)."""
    ids = ("chat_delivered_after_outage", "outbox_drain_s")
    missing = [r.scenario for r in results if not isinstance(r.checks.get("outbox"), Mapping)]
    if missing:
        return [kpi_from_catalogue(k, None, f"not measured: the outbox check did not run in {', '.join(missing)}")
                for k in ids]
    due = [r for r in results if int(r.check("outbox", "due") or 0)]
    if not due:
        return [kpi_from_catalogue(k, None, "not measured: no scenario queued a line younger than the outbox "
                                            "limit while NATS was faulted") for k in ids]
    lines = sum(int(r.check("outbox", "due") or 0) for r in due)
    delivered = sum(int(r.check("outbox", "delivered_after_outage") or 0) for r in due)
    stale = sum(int(r.check("outbox", "stale") or 0) for r in results)
    per = ", ".join(f"{r.scenario}={int(r.check('outbox', 'delivered_after_outage') or 0)}/"
                    f"{int(r.check('outbox', 'due') or 0)}" for r in due)
    kpis = [kpi_from_catalogue(
        "chat_delivered_after_outage", delivered / lines,
        f"{delivered} of {lines} lines queued during NATS faults (younger than the outbox limit at the heal) "
        f"delivered by their own server after the heal, before any admin replay; {stale} older lines kept "
        f"for the operators; per scenario: {per}", sample=lines)]
    unfinished = [r.scenario for r in due if r.check("outbox", "outbox_drain_s") is None]
    if unfinished:
        kpis.append(kpi_from_catalogue("outbox_drain_s", None,
                                       f"not measured: queued lines never all delivered in {', '.join(unfinished)}"))
        return kpis
    worst = max(due, key=lambda r: float(r.check("outbox", "outbox_drain_s")))
    biggest = max(int(r.check("outbox", "outbox_lines") or 0) for r in due)
    windows = ", ".join(f"{r.scenario}: {w['lines']} lines in {float(w['drain_s']):.3g} s"
                        for r in due for w in (r.check("outbox", "windows") or []) if w.get("drain_s") is not None)
    kpis.append(kpi_from_catalogue(
        "outbox_drain_s", float(worst.check("outbox", "outbox_drain_s")),
        f"slowest drain, heal to the last queued line received by every player in its room ({worst.scenario}); "
        f"sample = the most lines one heal drained ({biggest}); per heal: {windows}", sample=biggest))
    return kpis


def chaos_kpis(results: Sequence[ScenarioResult], suite: str = CHAOS_SUITE) -> list[KPIResult]:
    """The chaos suite's KPIs: pooled delivery, loss, DLQ and answers, minimum availability, recovery
    p95, and the outbox (chat_delivered_after_outage pooled, outbox_drain_s the slowest drain).

    Pooling counts every message once, so a long scenario weighs what it sent; each scenario's
    own figures stay in the evidence, and each scenario's test asserts them alone, so a lossy
    scenario cannot hide behind clean ones. The cluster suite adds ``cluster_failover_s`` (not
    measured when none of its scenarios killed a node); the chaos suite reports it only when one
    of its scenarios did, so a single-node run never stands in for the cluster's figure. The
    cluster suite also reports the one-world KPIs (harness.cluster.kpis: double_sessions,
    cross_server_eviction_s, alias_propagation_ms; not measured when no run measured them); the
    chaos suite reports the alert KPIs (harness.alerts: alerts_fired_as_expected over the runs
    with faults, false_alerts_in_baseline over the noop runs).
    """
    kpis = [*_pooled_delivery(results), *_pooled_acceptance(results), _min_availability(results),
            _pooled_replay(results), *_pooled_recovery(results), *_pooled_outbox(results)]
    if suite == CLUSTER_SUITE or any(r.check("failover", "applicable") for r in results):
        kpis.append(_pooled_failover(results))
    if suite == CLUSTER_SUITE:
        kpis.extend(one_world_kpis(results))
    else:
        kpis.extend(alert_kpis(results))
    return kpis


def suite_of(topology: Mapping[str, Any]) -> str:
    """The suite file a scenario's runs belong to: ``cluster`` on a NATS cluster, else ``chaos``."""
    return CLUSTER_SUITE if int(topology.get("nats_cluster", 1) or 1) > 1 else CHAOS_SUITE


def write_chaos_suite(reports: Path, out_dir: Path | None = None,
                      results: Sequence[ScenarioResult] | None = None, *,
                      started: datetime | None = None, planned: Sequence[str] | None = None,
                      failures: Sequence[str] = (), suite: str = CHAOS_SUITE) -> Path:
    """Write ``reports/kpi/<suite>.json`` (chaos, or cluster) from ``results`` (default: the latest
    run of every scenario).

    A test session passes the runs it made, so a fast subset is not mixed with stale runs of
    scenarios it did not run, and ``planned``, the scenarios it meant to run: one that raised,
    timed out or was skipped has no result, and every KPI of the file is then not measured.
    ``failures`` names failed checks beyond the runs' own (a test's extra assertions); with
    every failed non-KPI check of the runs they veto the file's KPIs.
    """
    results = list(results) if results is not None else latest_results(reports)
    if not results and not planned:
        raise FileNotFoundError(f"no scenario results under {reports / 'runs'}")
    current = now()
    finished = max((r.finished for r in results), default=current)
    if started is None:
        started = min((r.started for r in results), default=current)
    else:
        # A session that ran more than the scenarios (a test session) passes its own start and
        # ends now: the report's wall time per suite is then the session's.
        started, finished = min([started, *(r.started for r in results)]), max(finished, current)
    completed = sorted({r.scenario for r in results})
    vetoes = [*(f for r in results for f in check_failures(r)), *failures]
    return write_suite(suite, chaos_kpis(results, suite), started=started, finished=finished,
                       out_dir=out_dir or reports / DEFAULT_OUT_DIR.name,
                       planned=sorted(set(planned) if planned is not None else set(completed)),
                       completed=completed, failures=vetoes)


def now() -> datetime:
    return datetime.now(UTC)
