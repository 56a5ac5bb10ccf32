"""A load run's outcome: the KPIs of reports/kpi/load.json, reports/load/summary.json, the CLI's lines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.kpi import KPIResult, kpi_from_catalogue, not_measured
from harness.load.scenarios import RATE_LIMIT, RATE_WINDOW_S

__all__ = ["LoadResult", "ScenarioRun", "failed", "flood_kpis", "headline", "write_summary"]


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
    runs: list[ScenarioRun]
    kpi_path: Path | None
    summary_path: Path

    def run(self, name: str) -> ScenarioRun | None:
        return next((r for r in self.runs if r.name == name), None)


def flood_kpis(flood: ScenarioRun | None, runs: Sequence[ScenarioRun]) -> list[KPIResult]:
    """The load suite's catalogue KPIs; the connection rate pools every scenario of this run."""
    kpis: list[KPIResult] = []
    evidence = "loadtests/flood.py via harness.load"
    if flood is not None:
        f = flood.figures
        if f.get("dos_blocked_ratio") is None:
            kpis.append(not_measured("dos_blocked_ratio", f"no excess commands answered ({flood.error or 'see run'})"))
        else:
            kpis.append(kpi_from_catalogue(
                "dos_blocked_ratio", f["dos_blocked_ratio"],
                f"{evidence}: {f['excess_refused']:.0f} of {f['excess']:.0f} excess commands refused "
                f"({f['attackers']} attackers); compliant refusals: {f['compliant_refusals']} "
                f"over {f['compliant_commands']} commands"))
        if f.get("compliant_p99_ms") is None:
            kpis.append(not_measured("compliant_p99_under_flood", "no compliant round trips recorded"))
        else:
            kpis.append(kpi_from_catalogue("compliant_p99_under_flood", f["compliant_p99_ms"],
                                           f"{evidence}: p99 of {f['compliant_measured']} compliant round trips "
                                           f"after the warm-up, {f['attackers']} attackers at 50 cmd/s"))
    attempts = sum(int(r.connection.get("attempts", 0)) for r in runs)
    successes = sum(int(r.connection.get("successes", 0)) for r in runs)
    if attempts:
        kpis.append(kpi_from_catalogue("connection_success_rate", successes / attempts,
                                       f"loadtests via harness.load ({', '.join(r.name for r in runs)}): "
                                       f"{successes} of {attempts} players registered, logged in and connected"))
    return kpis


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
    if run.name == "flood":
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
    """Why ``harness load`` should exit 1: a Locust run that failed, a load KPI below its spec, a refused
    compliant player, or an alias flood that ran more than the limit."""
    reasons = [f"{r.name}: {r.error.splitlines()[0]}" for r in result.runs if r.error]
    flood = result.run("flood")
    if flood is not None and flood.figures.get("compliant_refusals"):
        reasons.append(f"flood: {flood.figures['compliant_refusals']} refusals of compliant players")
    alias = result.run("alias_amplification")
    if alias is not None and alias.figures.get("capped") is False:
        reasons.append(f"alias_amplification: {alias.figures['executed_commands_per_s_max']:.1f} commands/s "
                       f"executed per attacker, limit {alias.figures['limit_per_s']:g}/s")
    if result.kpi_path is not None:
        report = json.loads(result.kpi_path.read_text(encoding="utf-8"))
        reasons += [f"{k['id']} = {k['value']} fails {k['comparator']} {k['threshold']}"
                    for k in report["kpis"] if not k["passed"]]
    return reasons
