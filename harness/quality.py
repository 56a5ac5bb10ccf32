"""Quality KPIs from real measurements: coverage data, bandit findings, make verify's wall time.

`python -m harness.quality coverage` reads the combined `.coverage` file of the unit,
property and integration run; `python -m harness.quality bandit` runs bandit itself;
`python -m harness.quality verify-time` turns the start time scripts/verify.sh recorded before
setup into `make_verify_minutes`. None writes a figure it did not read or measure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click

from harness.kpi import KPIResult, kpi_from_catalogue, not_measured, write_suite

__all__ = ["CoverageFigures", "bandit_high_findings", "coverage_figures", "coverage_kpis", "verify_time_kpi"]

# KPI id -> the package prefix it measures.
COVERAGE_SCOPES: dict[str, str] = {
    "backend_coverage": "mythos/",
    "security_coverage": "mythos/commands/",
    "nats_coverage": "mythos/realtime/",
    "config_coverage": "mythos/config/",
}
BANDIT_TARGETS = ("mythos", "harness", "scenarios")


@dataclass(frozen=True)
class CoverageFigures:
    """Lines and branches covered under one package prefix."""

    statements: int
    missing_statements: int
    branches: int
    missing_branches: int

    @property
    def line_percent(self) -> float | None:
        if not self.statements:
            return None
        return 100.0 * (self.statements - self.missing_statements) / self.statements

    @property
    def branch_percent(self) -> float | None:
        if not self.branches:
            return None
        return 100.0 * (self.branches - self.missing_branches) / self.branches


def coverage_figures(data_file: Path, root: Path) -> dict[str, CoverageFigures]:
    """Per-scope line and branch figures from a coverage data file."""
    import coverage

    cov = coverage.Coverage(data_file=str(data_file))
    cov.load()
    totals = {scope: [0, 0, 0, 0] for scope in COVERAGE_SCOPES.values()}
    for measured in cov.get_data().measured_files():
        rel = (
            Path(measured).resolve().relative_to(root.resolve()).as_posix()
            if measured.startswith(str(root.resolve()))
            else measured
        )
        scopes = [s for s in totals if rel.startswith(s)]
        if not scopes:
            continue
        analysis = cov._analyze(measured)  # public analysis2 lacks branch counts
        numbers = analysis.numbers
        for scope in scopes:
            t = totals[scope]
            t[0] += numbers.n_statements
            t[1] += numbers.n_missing
            t[2] += numbers.n_branches
            t[3] += numbers.n_missing_branches
    return {scope: CoverageFigures(*t) for scope, t in totals.items()}


def coverage_kpis(figures: dict[str, CoverageFigures]) -> list[KPIResult]:
    results = []
    for kpi_id, scope in COVERAGE_SCOPES.items():
        fig = figures[scope]
        if fig.line_percent is None:
            results.append(not_measured(kpi_id, f"no coverage data for {scope}"))
            continue
        evidence = (
            f"pytest-cov, tests/unit + tests/property + tests/integration: {scope} lines "
            f"{fig.statements - fig.missing_statements}/{fig.statements}"
        )
        if fig.branch_percent is not None:
            evidence += f", branches {fig.branches - fig.missing_branches}/{fig.branches} ({fig.branch_percent:.1f} %)"
        results.append(kpi_from_catalogue(kpi_id, round(fig.line_percent, 2), evidence))
    return results


def bandit_high_findings(targets: tuple[str, ...] = BANDIT_TARGETS) -> tuple[int, list[str]]:
    """Run bandit; return the count of high-severity findings and one line per finding."""
    existing = [t for t in targets if Path(t).exists()]
    proc = subprocess.run(
        [sys.executable, "-m", "bandit", "-r", *existing, "-f", "json", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise RuntimeError(f"bandit failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
    report = json.loads(proc.stdout)
    high = [r for r in report.get("results", []) if r.get("issue_severity") == "HIGH"]
    return len(high), [f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_text']}" for r in high]


def verify_time_kpi(started: datetime, finished: datetime, partial: str | None = None) -> KPIResult:
    """``make_verify_minutes`` from setup's start to now; a partial run (VERIFY_SUITES) measures nothing."""
    if partial:
        return not_measured("make_verify_minutes", f"partial run ({partial}), not the whole make verify")
    minutes = (finished - started).total_seconds() / 60
    evidence = (f"scripts/verify.sh wall time from before setup to the report: {minutes:.1f} min "
                f"on {os.cpu_count()} CPU(s), {started.isoformat(timespec='seconds')} to "
                f"{finished.isoformat(timespec='seconds')}")
    return kpi_from_catalogue("make_verify_minutes", round(minutes, 2), evidence)


def _suite_started(default: datetime) -> datetime:
    """The suite's start as scripts/run_suite.sh recorded it, so the report's wall time is the suite's."""
    recorded = os.environ.get("MYTHOS_SUITE_STARTED")
    return datetime.fromisoformat(recorded) if recorded else default


@click.group()
def main() -> None:
    """Write quality KPIs from tool output."""


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports/kpi/unit.json"))
@click.option("--data-file", type=click.Path(path_type=Path), default=Path(".coverage"))
def coverage(out: Path, data_file: Path) -> None:
    """Coverage KPIs from the combined coverage data."""
    if not data_file.exists():
        raise click.ClickException(f"{data_file} not found: run the core suite with --cov first")
    started = _suite_started(default=datetime.fromtimestamp(data_file.stat().st_mtime, UTC))
    figures = coverage_figures(data_file, Path.cwd())
    kpis = coverage_kpis(figures)
    write_suite(out.stem, kpis, started=started, finished=datetime.now(UTC), out_dir=out.parent, merge=True)
    for k in kpis:
        click.echo(f"{k.id}: {k.value} {k.unit} ({'pass' if k.passed else 'FAIL'}) - {k.evidence}")


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports/kpi/lint.json"))
def bandit(out: Path) -> None:
    """Count bandit high-severity findings; fail when there is any."""
    started = _suite_started(default=datetime.now(UTC))
    count, lines = bandit_high_findings()
    kpis = [
        kpi_from_catalogue(
            "critical_vulnerabilities",
            count,
            f"bandit -r {' '.join(BANDIT_TARGETS)}: {count} high-severity finding(s)"
            + ("" if not lines else "; " + "; ".join(lines[:5])),
        ),
        not_measured(
            "dependency_audit",
            "advisory databases are unreachable from this machine (pip-audit skips every package, "
            "npm audit gets 405); run `pip-audit` and `npm audit` on a machine with internet",
        ),
    ]
    write_suite(out.stem, kpis, started=started, finished=datetime.now(UTC), out_dir=out.parent, merge=True)
    for line in lines:
        click.echo(line, err=True)
    click.echo(f"bandit: {count} high-severity finding(s)")
    if count:
        sys.exit(1)


@main.command(name="verify-time")
@click.option("--started", "started_epoch", type=float, required=True,
              help="Unix time scripts/verify.sh recorded before running setup.")
@click.option("--partial", default=None, help="Set for a partial run: the KPI is written as not measured.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports/kpi/verify.json"))
def verify_time(started_epoch: float, partial: str | None, out: Path) -> None:
    """Write make_verify_minutes: the whole make verify, setup included, up to the report."""
    started = datetime.fromtimestamp(started_epoch, UTC)
    finished = datetime.now(UTC)
    if finished < started:
        raise click.ClickException(f"--started {started.isoformat()} is in the future")
    kpi = verify_time_kpi(started, finished, partial)
    write_suite(out.stem, [kpi], started=started, finished=finished, out_dir=out.parent)
    click.echo(f"{kpi.id}: {kpi.value} {kpi.unit} - {kpi.evidence}")


if __name__ == "__main__":  # pragma: no cover
    main()
