"""A load run's outcome: the KPIs of reports/kpi/load.json, reports/load/summary.json, the CLI's lines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.kpi import KPIResult, kpi_from_catalogue, not_measured, write_suite
from harness.load.scenarios import CONTROL_RATE_LIMIT, NEGATIVE_CONTROL, RATE_LIMIT, RATE_WINDOW_S

__all__ = ["LoadResult", "ScenarioRun", "control_verdict", "failed", "headline", "load_kpis", "outcome",
           "write_load_suite", "write_summary"]


@dataclass
class ScenarioRun:
    """One scenario's outcome: Locust's exit code, where its reports are, and the figures."""

    name: str
    out_dir: Path
    returncode: int | None = None
    timed_out: bool = False
    wall_s: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)
    connection: dict[str, Any] = field(default_factory=dict)
    server_peak_rss_mib: float | None = None
    server_rss_mib: dict[str, float] = field(default_factory=dict)
    generator_cpu_peak_pct: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"returncode": self.returncode, "timed_out": self.timed_out, "wall_s": round(self.wall_s, 1),
                "figures": self.figures, "connection": self.connection,
                "server_peak_rss_mib": self.server_peak_rss_mib, "server_rss_mib": self.server_rss_mib,
                "generator_cpu_peak_pct": self.generator_cpu_peak_pct,
                "error": self.error, "reports": {"html": str(self.out_dir / "report.html"),
                                                 "csv": str(self.out_dir / "locust_stats.csv"),
                                                 "json": str(self.out_dir / "locust.json"),
                                                 "players": str(self.out_dir / "players.jsonl")}}


@dataclass
class LoadResult:
    """One ``run_load``: the runs, what the suite meant to run and finished, and the files written."""

    runs: list[ScenarioRun]
    kpi_path: Path | None
    summary_path: Path
    planned: tuple[str, ...] = ()
    completed: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()

    def run(self, name: str) -> ScenarioRun | None:
        return next((r for r in self.runs if r.name == name), None)


def _finished(run: ScenarioRun) -> bool:
    return run.error is None and not run.timed_out


def _is_control(run: ScenarioRun) -> bool:
    return run.name == NEGATIVE_CONTROL


def control_verdict(control: ScenarioRun) -> tuple[bool, str | None]:
    """(completed, failure) of the negative control: it completes when it ran and measured a ratio;
    it fails when that ratio, measured against a limit raised far above the flood, still passes."""
    ratio = control.figures.get("dos_blocked_ratio")
    if not _finished(control) or ratio is None:
        return False, None
    if kpi_from_catalogue("dos_blocked_ratio", ratio, "negative control").passed:
        return True, (f"{NEGATIVE_CONTROL}: dos_blocked_ratio {ratio:.3f} passes against a limit of "
                      f"{CONTROL_RATE_LIMIT}/s, so the figure cannot tell a missing limiter")
    return True, None


def outcome(runs: Sequence[ScenarioRun]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(completed scenarios, failed non-KPI assertions) of a load run.

    A scenario completes when Locust ran it to the end (the control: and measured its ratio).
    The failures veto every load KPI: a negative control whose KPI passed, compliant players
    that waited in vain, an alias flood that ran more commands than the limit.
    """
    completed: list[str] = []
    failures: list[str] = []
    for run in runs:
        if _is_control(run):
            done, failure = control_verdict(run)
            if failure:
                failures.append(failure)
        else:
            done = _finished(run)
        if done:
            completed.append(run.name)
        f = run.figures
        if run.name == "flood" and int(f.get("compliant_timeouts") or 0) > 0:
            failures.append(f"flood: {f['compliant_timeouts']} commands of compliant players got no reply "
                            f"in time")
        if run.name == "alias_amplification" and f.get("capped") is False:
            failures.append(f"alias_amplification: {f['executed_commands_per_s_max']:.1f} commands/s executed "
                            f"per attacker, limit {f['limit_per_s']:g}/s")
    return tuple(completed), tuple(failures)


def load_kpis(runs: Sequence[ScenarioRun]) -> list[KPIResult]:
    """The load suite's catalogue KPIs, every one of them written, measured or not.

    ``compliant_refusals`` is its own KPI (a server that refuses everyone blocks every excess
    command too), and ``compliant_p99_under_flood`` is the p99 over accepted commands only, with
    its sample size. The connection rate pools every scenario of this run but the control.
    """
    evidence = "loadtests/flood.py via harness.load"
    flood = next((r for r in runs if r.name == "flood"), None)
    f = flood.figures if flood is not None else {}
    why = "the flood scenario did not run" if flood is None else f"flood: {flood.error or 'no figures'}"
    kpis: list[KPIResult] = []
    if f.get("dos_blocked_ratio") is None:
        kpis.append(not_measured("dos_blocked_ratio", f"no excess commands answered ({why})"))
    else:
        kpis.append(kpi_from_catalogue(
            "dos_blocked_ratio", f["dos_blocked_ratio"],
            f"{evidence}: {f['excess_refused']:.0f} of {f['excess']:.0f} excess commands refused "
            f"({f['attackers']} attackers at 50 cmd/s, limit {RATE_LIMIT} per {RATE_WINDOW_S:g} s)",
            sample=round(f["excess"])))
    if not f.get("compliant_commands"):
        kpis.append(not_measured("compliant_refusals", f"no compliant player sent a command ({why})"))
    else:
        kpis.append(kpi_from_catalogue(
            "compliant_refusals", f["compliant_refusals"],
            f"{evidence}: {f['compliant_refusals']} of {f['compliant_commands']} commands of "
            f"{f['players']} compliant players refused during the flood", sample=int(f["compliant_commands"])))
    if f.get("compliant_p99_ms") is None:
        kpis.append(not_measured("compliant_p99_under_flood",
                                 f"no accepted command of a compliant player after the warm-up ({why})"))
    else:
        kpis.append(kpi_from_catalogue(
            "compliant_p99_under_flood", f["compliant_p99_ms"],
            f"{evidence}: p99 of {f['compliant_measured']} round trips of commands the server accepted "
            f"from compliant players after the warm-up ({f['compliant_refusals']} refusals left out, "
            f"{f['compliant_timeouts']} timeouts counted at the patience), {f['attackers']} attackers "
            f"at 50 cmd/s", sample=int(f["compliant_measured"])))
    pooled = [r for r in runs if not _is_control(r)]
    attempts = sum(int(r.connection.get("attempts", 0)) for r in pooled)
    successes = sum(int(r.connection.get("successes", 0)) for r in pooled)
    if attempts:
        kpis.append(kpi_from_catalogue("connection_success_rate", successes / attempts,
                                       f"loadtests via harness.load ({', '.join(r.name for r in pooled)}): "
                                       f"{successes} of {attempts} players registered, logged in and connected",
                                       sample=attempts))
    else:
        kpis.append(not_measured("connection_success_rate", "no load player tried to connect"))
    return kpis


def write_load_suite(runs: Sequence[ScenarioRun], planned: Sequence[str], *, started: datetime,
                     out_dir: Path) -> tuple[Path, tuple[str, ...], tuple[str, ...]]:
    """Write ``<out_dir>/load.json`` for one load run: (path, completed, failures).

    The file replaces the last one: it declares the scenarios this run planned and completed, so
    a scenario that did not finish leaves every load KPI "not measured", and a failed non-KPI
    assertion (the negative control's) vetoes them.
    """
    completed, failures = outcome(runs)
    path = write_suite("load", load_kpis(runs), started=started, finished=datetime.now(UTC), out_dir=out_dir,
                       planned=list(planned), completed=list(completed), failures=failures)
    return path, completed, failures


def write_summary(path: Path, runs: Sequence[ScenarioRun], *, short: bool, workers: int) -> Path:
    """Merge this run's scenarios into ``reports/load/summary.json`` (other scenarios' entries stay)."""
    summary = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"scenarios": {}}
    summary.update({"updated": datetime.now(UTC).isoformat(), "short": short, "workers": workers,
                    "rate_limit": RATE_LIMIT, "rate_window_s": RATE_WINDOW_S})
    for run in runs:
        summary["scenarios"][run.name] = run.to_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def _num(value: Any, fmt: str = ".3g") -> str:
    return "-" if value is None else format(value, fmt)


def headline(run: ScenarioRun) -> str:
    """One line of the figures that matter for ``run``'s scenario (for the CLI's table)."""
    f = run.figures
    if run.name in ("flood", NEGATIVE_CONTROL):
        return (f"dos_blocked_ratio {_num(f.get('dos_blocked_ratio'), '.4f')}, compliant refusals "
                f"{f.get('compliant_refusals')}, compliant p99 {_num(f.get('compliant_p99_ms'))} ms")
    if run.name == "alias_amplification":
        return (f"executed {_num(f.get('executed_commands_per_s_max'))}/s max per attacker "
                f"(limit {_num(f.get('limit_per_s'))}/s, attempted {_num(f.get('attempted_commands_per_s'))}/s); "
                f"capped {f.get('capped')}")
    if run.name == "chat_fanout":
        return (f"{f.get('players')} players: delivered {_num(f.get('delivered_ratio'), '.4f')}, "
                f"p50 {_num(f.get('delivery_p50_ms'))} ms, p99 {_num(f.get('delivery_p99_ms'))} ms")
    return (f"sustained {_num(f.get('sustained_commands_per_s'))} cmd/s with {f.get('sustained_players')} players "
            f"(p99 {_num(f.get('sustained_p99_ms'))} ms); stop: {f.get('stop_reason')}; "
            f"server peak RSS {_num(run.server_peak_rss_mib)} MiB")


def failed(result: LoadResult) -> list[str]:
    """Why ``harness load`` should exit 1: a scenario that did not finish, a failed non-KPI assertion
    (the negative control among them), or a load KPI that does not pass in the written file."""
    broken = [r for r in result.runs if r.error or r.timed_out]
    reasons = [f"{r.name}: {r.error.splitlines()[0] if r.error else 'timed out'}" for r in broken]
    reasons += [f"{name}: did not complete" for name in result.planned
                if name not in result.completed and name not in {r.name for r in broken}]
    reasons += list(result.failures)
    if result.kpi_path is None:
        reasons.append("no load KPI file written")
    else:
        report = json.loads(result.kpi_path.read_text(encoding="utf-8"))
        reasons += [f"{k['id']} = {k['value']} fails {k['comparator']} {k['threshold']}"
                    for k in report["kpis"] if not k.get("passed")]
    return reasons
