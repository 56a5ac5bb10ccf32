"""Static-quality KPIs from real tool output: coverage data and bandit findings.

`python -m harness.quality coverage` reads the combined `.coverage` file of the unit,
property and integration run; `python -m harness.quality bandit` runs bandit itself. Neither
writes a figure it did not read from the tool.
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

__all__ = ["CoverageFigures", "bandit_high_findings", "coverage_figures", "coverage_kpis"]

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


if __name__ == "__main__":  # pragma: no cover
    main()
