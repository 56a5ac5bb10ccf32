"""``harness``: bring the topology up, run chaos scenarios, re-check histories, report, gate.

Exit codes: ``chaos`` and ``analyze`` exit 1 when a checker found the history invalid (2 when
``analyze`` can only say unknown); ``gate`` exits 1 naming every reason the run is not green
(harness/verdict.py); ``run record`` exits 2 when the run manifest is missing or another run's.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import pkgutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click
import structlog

from harness.paths import DEFAULT_REPORTS

__all__ = ["main"]

reports_option = click.option("--reports", type=click.Path(path_type=Path), default=DEFAULT_REPORTS,
                              show_default=True, help="Reports directory.")


@click.group()
def main() -> None:
    """The Mythos verification harness."""
    # Logs go to stderr so stdout stays machine-readable (``harness up`` prints JSON there).
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso"),
                    structlog.dev.ConsoleRenderer(colors=False)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


@main.command()
@click.option("--mythos", "mythos_count", default=1, show_default=True, type=click.IntRange(0, 8),
              help="Game servers to start (0: only nats-server and toxiproxy).")
@click.option("--no-jetstream", is_flag=True, help="Start nats-server without JetStream.")
@click.option("--seconds", type=float, default=None, help="Stop after this long (default: until Ctrl-C).")
@click.option("--containers", is_flag=True,
              help="nats-server and toxiproxy from testcontainers (needs a Docker engine).")
@click.option("--nats-cluster", "nats_cluster", default=1, show_default=True, type=click.IntRange(1, 5),
              help="NATS nodes: more than 1 starts a JetStream cluster whose routes pass through Toxiproxy.")
@click.option("--db", type=click.Choice(["sqlite", "postgres"]), default="sqlite", show_default=True,
              help="sqlite: a file per game server; postgres: one real PostgreSQL for every game server.")
@reports_option
def up(mythos_count: int, no_jetstream: bool, seconds: float | None, containers: bool, nats_cluster: int,
       db: str, reports: Path) -> None:
    """Start the topology, print every address, and keep it up for poking by hand."""
    from harness.paths import RunPaths
    from harness.topology import Topology, TopologySpec

    try:
        spec = TopologySpec(mythos=mythos_count, jetstream=not no_jetstream, containers=containers,
                            nats_cluster=nats_cluster, db="postgres" if db == "postgres" else "sqlite")
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Topology(spec, RunPaths.new("up", reports)) as topology:
        click.echo(json.dumps(topology.describe(), indent=2))
        click.echo("Up. Ctrl-C stops everything.", err=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait(seconds)


def available_scenarios() -> list[str]:
    import scenarios

    names = [m.name for m in pkgutil.iter_modules(scenarios.__path__) if m.name != "base"]
    return sorted(["noop", *names])


def default_scenarios(fast: bool) -> list[str]:
    """What ``harness chaos`` runs unnamed: the fast subset, or every single-node scenario.

    The cluster scenarios (scenarios.CLUSTER) run only by name: they need a NATS cluster and a
    PostgreSQL, and write their own suite file.
    """
    from scenarios import CLUSTER, FAST

    if fast:
        return list(FAST)
    return [n for n in available_scenarios() if n != "noop" and n not in CLUSTER]


def _watch_alerts_when_installed() -> None:
    """Give each run a Prometheus (its alerts judged) when prometheus is installed; without one
    the ``alerts`` check says unknown and the alert KPIs are not measured."""
    from harness.services.prometheus import PROMETHEUS_ENV, PrometheusNotFoundError, find_prometheus

    if not os.environ.get(PROMETHEUS_ENV):
        with contextlib.suppress(PrometheusNotFoundError):
            os.environ[PROMETHEUS_ENV] = str(find_prometheus())


def load_scenario(name: str) -> Any:
    """A scenario module's ``SCENARIO`` (a ChaosTest); "noop" is the fault-free baseline."""
    from scenarios.base import noop_test

    if name == "noop":
        return noop_test()
    if name not in available_scenarios():
        raise click.BadParameter(f"unknown scenario {name!r}; available: {', '.join(available_scenarios())}")
    module = importlib.import_module(f"scenarios.{name}")
    return module.SCENARIO


@main.command()
@click.argument("names", nargs=-1)
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and exit.")
@click.option("--fast", is_flag=True, help="Run the fast subset of the default test command.")
@click.option("--weak", is_flag=True,
              help="Run against the known-weak configuration (core NATS, no retries): it must fail.")
@reports_option
def chaos(names: tuple[str, ...], list_only: bool, fast: bool, weak: bool, reports: Path) -> None:
    """Run chaos scenarios (all single-node ones when none is named), then write reports/kpi/chaos.json
    from them; scenarios on a NATS cluster (run by name) write reports/kpi/cluster.json."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from harness.results import suite_of, write_chaos_suite
    from scenarios import CLUSTER, FAST
    from scenarios.base import run_scenario, weakened

    if list_only:
        click.echo("\n".join(f"{n}{' (fast)' if n in FAST else ''}{' (cluster)' if n in CLUSTER else ''}"
                              for n in available_scenarios()))
        return
    chosen = list(names) or default_scenarios(fast)
    tests = [load_scenario(name) for name in chosen]
    _watch_alerts_when_installed()
    if weak:
        tests = [weakened(test) for test in tests]
    console = Console(stderr=True)
    table = Table("scenario", "valid", "delivery", "loss", "dlq", "recovery p95 s", "availability",
                  "link FSM", "run")
    results = []
    crashed: list[str] = []
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console) as progress:
        overall = progress.add_task(f"{len(tests)} scenarios", total=len(tests))
        for test in tests:
            task = progress.add_task(f"{test.name} (~{test.schedule.total_s:.0f} s + setup)", total=None)
            try:
                result = run_scenario(test, reports=reports)
            except Exception as exc:  # one broken scenario must not hide the others' verdicts
                crashed.append(f"{test.name}: {type(exc).__name__}: {exc}")
                progress.update(task, description=f"{test.name}: raised {type(exc).__name__}", total=1,
                                completed=1)
                progress.advance(overall)
                continue
            results.append(result)
            progress.update(task, description=f"{test.name}: valid={result.valid}", total=1, completed=1)
            progress.advance(overall)
    for r in results:
        table.add_row(r.scenario, str(r.valid), _fmt(r.check("delivery", "message_delivery_rate")),
                      _fmt(r.check("delivery", "message_loss_rate")),
                      _fmt(r.check("delivery", "dlq_accounted")),
                      _fmt(r.check("recovery", "nats_recovery_s")),
                      _fmt(r.check("availability", "availability_during_nats_faults")),
                      str(r.check("transitions", "valid")), r.run_id)
    console.print(table)
    if weak:
        click.echo("known-weak configuration: reports/kpi/chaos.json left untouched", err=True)
    else:
        # The planned scenarios are the chosen ones: one that raised leaves the suite's KPIs not measured.
        planned: dict[str, list[str]] = {}
        for test in tests:
            planned.setdefault(suite_of(test.describe()["topology"]), []).append(test.name)
        for suite, names_in_suite in planned.items():
            path = write_chaos_suite(reports, results=[r for r in results if r.scenario in names_in_suite],
                                     planned=names_in_suite, suite=suite)
            click.echo(f"wrote {path}")
    for line in crashed:
        click.echo(f"FAILED: scenario {line}", err=True)
    if crashed or any(r.valid is False for r in results):
        sys.exit(1)


def _run_suite(suite: str, full: bool) -> None:
    """Run one suite through scripts/run_suite.sh, the definition `make` and tox share."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    argv = ["bash", str(root / "scripts" / "run_suite.sh"), suite, *(["--full"] if full else [])]
    env = {**os.environ, "PYTHON_BIN": os.environ.get("PYTHON_BIN", sys.executable)}
    sys.exit(subprocess.run(argv, cwd=root, env=env, check=False).returncode)


@main.command()
@click.option("--quick", is_flag=True, help="The default (small) example counts instead of the full profile.")
def fuzz(quick: bool) -> None:
    """Run the property suites (full hypothesis profile) and write reports/kpi/property.json."""
    _run_suite("property", full=not quick)


@main.command()
@click.option("--quick", is_flag=True, help="Only login, server restart and long outage.")
def e2e(quick: bool) -> None:
    """Run the Playwright reconnect scenarios in Chromium and write reports/kpi/e2e.json."""
    _run_suite("e2e", full=not quick)


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"


@main.command()
@click.argument("history", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dlq", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="DLQ entries (JSON list); default: dlq.json next to the history.")
@click.option("--checker", "checkers", multiple=True, help="Checker to run (repeatable; default all).")
@click.option("--save", is_flag=True,
              help="Replace the checks in results.json next to the history (after a checker fix).")
def analyze(history: Path, dlq: Path | None, checkers: tuple[str, ...], save: bool) -> None:
    """Re-check a saved history without running anything."""
    from dataclasses import replace

    from harness.checker import run_checks
    from harness.history import load_history
    from harness.results import ScenarioResult

    meta, ops = load_history(history)
    dlq_path = dlq or history.with_name("dlq.json")
    entries = json.loads(dlq_path.read_text(encoding="utf-8")) if dlq_path.exists() else []
    try:
        result = run_checks(meta.test, ops, entries, names=list(checkers) or None)
    except KeyError as exc:
        raise click.BadParameter(str(exc)) from exc
    click.echo(json.dumps(result, indent=2, default=str))
    results_path = history.with_name("results.json")
    if save:
        if not results_path.exists():
            raise click.UsageError(f"--save needs {results_path}")
        replace(ScenarioResult.load(results_path), checks=result).save(results_path)
        click.echo(f"updated {results_path}", err=True)
    sys.exit({True: 0, False: 1}.get(result["valid"], 2))


allow_stale_option = click.option(
    "--allow-stale", is_flag=True,
    help="Accept KPI files from another run or commit (the report marks them stale).")


@main.command()
@reports_option
@allow_stale_option
def report(reports: Path, allow_stale: bool) -> None:
    """Judge the run and write reports/kpi.json and reports/kpi.html."""
    from harness.report import build_report

    json_path, html_path, verdict = build_report(reports, allow_stale=allow_stale)
    click.echo(f"wrote {json_path} and {html_path}; gate {'passed' if verdict.passed else 'FAILED'}")


@main.command(name="gate")
@reports_option
@allow_stale_option
def gate_command(reports: Path, allow_stale: bool) -> None:
    """Exit 1 naming every reason the run is not green (see docs/harness.md, "What green means")."""
    from harness.verdict import judge

    verdict = judge(reports, allow_stale=allow_stale)
    for line in verdict.pending_lines():
        click.echo(line, err=True)
    for entry in verdict.stale_files:
        if allow_stale:
            click.echo(f"stale   {entry.file}: {entry.stale} (accepted by --allow-stale)", err=True)
    for line in verdict.reasons:
        click.echo(line, err=True)
    if not verdict.passed:
        click.echo(verdict.summary(), err=True)
        sys.exit(1)
    click.echo(verdict.summary())


@main.group()
def run() -> None:
    """The run manifest (reports/kpi/run.json): which suites a run meant to run and how each ended."""


@run.command(name="begin")
@click.option("--suites", required=True, help="Comma-separated suites this run will run, e.g. lint,core,chaos.")
@click.option("--full", is_flag=True, help="A full run: the gate then enforces minimum samples.")
@reports_option
def run_begin(suites: str, full: bool, reports: Path) -> None:
    """Start a run (replacing any earlier manifest) and print its id (HARNESS_RUN_ID if set)."""
    from harness.run_manifest import begin_run

    try:
        manifest = begin_run(reports, suites.split(","), full=full)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(manifest.id)


@run.command(name="record")
@click.argument("suite")
@click.option("--exit-code", type=int, required=True, help="The suite's exit code.")
@click.option("--note", default=None, help="Why it failed, for the report.")
@reports_option
def run_record(suite: str, exit_code: int, note: str | None, reports: Path) -> None:
    """Record one suite's outcome in the run manifest."""
    from harness.run_manifest import record_outcome

    try:
        record_outcome(reports, suite, exit_code, note)
    except ValueError as exc:
        click.echo(f"harness run record: {exc}", err=True)
        sys.exit(2)


@main.command()
@click.argument("names", nargs=-1)
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Locust worker processes (Locust's own --processes: a master plus N forked workers).")
@click.option("--duration", type=click.FloatRange(min=1.0), default=None,
              help="Seconds per scenario (default: each scenario's own, at most 2 min).")
@click.option("--short", is_flag=True, help="The short profile of the default test command (~20-30 s each).")
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and exit.")
@reports_option
def load(names: tuple[str, ...], workers: int, duration: float | None, short: bool, list_only: bool,
         reports: Path) -> None:
    """Run Locust load scenarios (all when none is named); write reports/kpi/load.json and reports/load/."""
    from rich.console import Console
    from rich.table import Table

    from harness.load import SCENARIOS, failed, headline, run_load

    if list_only:
        for scenario in SCENARIOS.values():
            click.echo(f"{scenario.name}\t{scenario.description}")
        return
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise click.BadParameter(f"unknown scenario(s) {unknown}; available: {', '.join(SCENARIOS)}")
    console = Console(stderr=True)
    with console.status("load scenarios") as status:

        def progress(message: str) -> None:
            status.update(message)
            console.log(message)

        result = run_load(list(names), workers=workers, duration=duration, short=short, reports=reports,
                          progress=progress)
    table = Table("scenario", "figures", "locust report")
    for run in result.runs:
        table.add_row(run.name, headline(run), str(run.out_dir / "report.html"))
    console.print(table)
    click.echo(f"wrote {result.kpi_path or '(no load KPI)'} and {result.summary_path}")
    reasons = failed(result)
    for reason in reasons:
        click.echo(f"FAILED: {reason}", err=True)
    if reasons:
        sys.exit(1)


@main.command()
@click.argument("names", nargs=-1)
@click.option("--full", is_flag=True, help="The full profile (about 4 minutes) instead of the short one (under 1).")
@click.option("--list", "list_only", is_flag=True, help="List the attacks and exit.")
@reports_option
def abuse(names: tuple[str, ...], full: bool, list_only: bool, reports: Path) -> None:
    """Attack a real server (all attacks when none is named) while compliant players play; write
    reports/kpi/abuse.json and reports/abuse/summary.json. Exits 1 when a KPI or a check failed."""
    from harness.abuse import ATTACKS, run_abuse

    if list_only:
        for attack in ATTACKS.values():
            budget = attack.budget(full)
            click.echo(f"{attack.name}\t<= {budget.seconds:g} s, <= {budget.count} requests\t{attack.description}")
        return
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        raise click.BadParameter(f"unknown attack(s) {unknown}; available: {', '.join(ATTACKS)}")
    result = run_abuse(list(names), full=full, reports=reports, progress=lambda line: click.echo(line, err=True))
    for kpi in result.kpis:
        value = "not measured" if not kpi.measured else f"{kpi.value:g} {kpi.unit}"
        verdict = "ok" if kpi.passed else "FAILED"
        spec = "-" if kpi.threshold is None else f"{kpi.comparator} {kpi.threshold:g}"
        click.echo(f"{kpi.id:40} {value:>20}  spec {spec}  {verdict}")
    for failure in result.failures:
        click.echo(f"FAILED: {failure}", err=True)
    click.echo(f"wrote {result.kpi_path} and {result.summary_path} ({result.wall_s:.0f} s)")
    if result.failures or not all(k.passed for k in result.kpis):
        sys.exit(1)



@main.command()
@click.argument("ids", nargs=-1)
@click.option("--list", "list_only", is_flag=True, help="List the seeded faults and exit.")
@click.option("--jobs", type=click.IntRange(1, 2), default=2, show_default=True, help="Runs at a time.")
@reports_option
def selftest(ids: tuple[str, ...], list_only: bool, jobs: int, reports: Path) -> None:
    """Seed each fault of the catalogue in a scratch copy of the tree; its named suite must go red.

    Prints a line per fault (caught, missed, broken, baseline red, error) and keeps each run's
    output in reports/selftest/. With every fault (no IDS) it writes reports/kpi/selftest.json
    (seeded_faults_caught). Exits 1 unless every fault was caught.
    """
    from harness.selftest.faults import FAULTS
    from harness.selftest.runner import Verdict, run_selftest, write_kpi

    if list_only:
        for fault in FAULTS:
            click.echo(f"{fault.id}\t{fault.area}\t{fault.check}\t{fault.description}")
        return
    known = {f.id for f in FAULTS}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise click.BadParameter(f"unknown fault(s) {unknown}; see --list")
    chosen = [f for f in FAULTS if not ids or f.id in ids]
    click.echo(f"selftest: {len(chosen)} seeded faults, {jobs} at a time", err=True)
    result = run_selftest(chosen, jobs=jobs, log_dir=reports / "selftest",
                          progress=lambda line: click.echo(line, err=True))
    counts = {v: sum(1 for r in result.results if r.verdict is v) for v in Verdict}
    click.echo(", ".join(f"{n} {v}" for v, n in counts.items() if n) + f" of {result.total} "
               f"in {result.wall_s:.0f} s; logs in {reports / 'selftest'}")
    if ids:
        click.echo("a chosen subset: reports/kpi/selftest.json left untouched", err=True)
    else:
        click.echo(f"wrote {write_kpi(result, reports / 'kpi')}")
    for failure in result.failures():
        click.echo(f"FAILED: {failure}", err=True)
    if not result.passed:
        sys.exit(1)

if __name__ == "__main__":  # `python -m harness.cli`, as tox and the suite script call it
    main()
