"""Runs one scenario: fresh nats-server and mythos, Locust as a bounded subprocess, then the figures.

Locust runs as a subprocess (importing it monkey-patches this process with gevent), headless,
with ``--json-file``, ``--csv`` and ``--html`` under ``reports/load/<scenario>/``. Each scenario
gets a fresh nats-server and mythos on free loopback ports, invite codes added to the server's
invites file, and a bounded run time; a run that overstays is stopped by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from harness.load.figures import alias_figures, capacity_figures, chat_figures, connection_figures, flood_figures
from harness.load.results import LoadResult, ScenarioRun, write_load_suite, write_summary
from harness.load.scenarios import RATE_LIMIT, RATE_WINDOW_S, SCENARIOS, LoadScenario
from harness.paths import DEFAULT_REPORTS, RunPaths
from harness.services.mythos import MythosServer
from harness.services.nats import NatsServer
from harness.services.process import free_port
from mythos.auth import InviteStore

__all__ = ["analyse", "locust_argv", "run_load", "run_scenario"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_ENV = "MYTHOS_LOAD_CONFIG"  # read by loadtests/config.py
STARTUP_GRACE_S = 45.0  # Locust start, spawning, registrations and its own stop on top of the run time
SAMPLE_INTERVAL_S = 0.25
STOP_TIMEOUT_S = 10.0

Progress = Callable[[str], None]


class _Sampler:
    """Peak RSS of the server (psutil on its PID) and peak CPU of the Locust process tree."""

    def __init__(self, server_pid: int) -> None:
        self.server = psutil.Process(server_pid)
        self.locust: psutil.Process | None = None
        self.peak_rss = 0
        self.first_rss: int | None = None
        self.last_rss = 0
        self.peak_cpu = 0.0
        self._procs: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-sampler", daemon=True)

    def _tree(self, root: psutil.Process) -> list[psutil.Process]:
        try:
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def _sample(self) -> None:
        rss = 0
        for proc in self._tree(self.server):
            with contextlib.suppress(psutil.Error):
                rss += proc.memory_info().rss
        self.peak_rss = max(self.peak_rss, rss)
        self.first_rss = rss if self.first_rss is None else self.first_rss
        self.last_rss = rss
        if self.locust is not None:
            cpu = 0.0
            for proc in self._tree(self.locust):
                known = self._procs.setdefault(proc.pid, proc)
                with contextlib.suppress(psutil.Error):
                    cpu += known.cpu_percent(None)
            self.peak_cpu = max(self.peak_cpu, cpu)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            self._sample()

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the Locust master we started, then SIGKILL to its own process group (its workers)."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the group is the session we created for it
        proc.wait(timeout=STOP_TIMEOUT_S)


def locust_argv(scenario: LoadScenario, out_dir: Path, *, host: str, users: int, run_s: float,
                workers: int) -> list[str]:
    """The headless Locust command line; ``--processes N`` is Locust's own master/worker mode."""
    argv = [sys.executable, "-m", "locust", "-f", str(PROJECT_ROOT / scenario.locustfile), "--headless",
            "--host", host, "--json-file", str(out_dir / "locust"), "--csv", str(out_dir / "locust"),
            "--csv-full-history", "--html", str(out_dir / "report.html"), "--only-summary",
            "--loglevel", "WARNING", "--logfile", str(out_dir / "locust.log"),
            "--stop-timeout", "3", "--exit-code-on-error", "0"]
    if not scenario.shape:
        argv += ["-u", str(users), "-r", str(max(1, users)), "-t", f"{max(1, round(run_s))}s"]
    if workers > 1:
        # Locust's master binds every interface on 5557 by default: keep it on loopback, on a free port.
        port = str(free_port("127.0.0.1"))
        argv += ["--processes", str(workers), "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
                 "--master-host", "127.0.0.1", "--master-port", port]
    return argv


def _read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _read_json(path: Path, default: Any) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else default


def analyse(scenario: LoadScenario, out_dir: Path,
            settings: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(figures, connection figures) of a finished scenario from the files it left in ``out_dir``."""
    records = _read_records(out_dir / "players.jsonl")
    limit, window = int(settings["rate_limit"]), float(settings["rate_window_s"])
    if scenario.kind == "flood":
        figures = flood_figures(records, limit=limit, window_s=window)
    elif scenario.kind == "alias_amplification":
        figures = alias_figures(records, limit=limit, window_s=window, alias_size=int(settings["alias_size"]))
    elif scenario.kind == "chat_fanout":
        figures = chat_figures(records, _read_json(out_dir / "locust.json", []))
    else:
        figures = capacity_figures(_read_json(out_dir / "capacity_steps.json", {}))
    return figures, connection_figures(records)


def run_scenario(scenario: LoadScenario, *, short: bool, workers: int, duration: float | None,
                 reports: Path, progress: Progress, server_env: Mapping[str, str] | None = None) -> ScenarioRun:
    """Run one scenario; the scenario's and then ``server_env``'s variables override the server's
    (negative controls only: the figures always measure against RATE_LIMIT per RATE_WINDOW_S)."""
    out_dir = reports / "load" / scenario.name
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*"):
        if stale.is_file():
            stale.unlink()
    run = ScenarioRun(scenario.name, out_dir)
    paths = RunPaths.new(f"load-{scenario.name}", reports).create()
    run_s = duration if duration is not None else (scenario.short_run_s if short else scenario.run_s)
    settings = {"rate_limit": RATE_LIMIT, "rate_window_s": RATE_WINDOW_S, "alias_size": 10,
                **scenario.settings(short)}
    if scenario.shape:
        settings["capacity_max_s"] = run_s
    users = scenario.users(settings)
    started = time.monotonic()
    progress(f"{scenario.name}: starting nats-server and mythos")
    with NatsServer(paths.log_dir) as nats, MythosServer(
        paths.run_dir, paths.log_dir, nats_url=nats.url,
        extra_env={"RATE_LIMIT_MAX_COMMANDS": str(RATE_LIMIT), "RATE_LIMIT_WINDOW_SECONDS": str(RATE_WINDOW_S),
                   **(scenario.server_env or {}), **(server_env or {})},
    ) as server:
        invites = paths.run_dir / "load-invites.json"
        invites.write_text(json.dumps(InviteStore(server.invites_file).create(users)), encoding="utf-8")
        config = {"host": server.base_url, "invites_file": str(invites),
                  "results_file": str(out_dir / "players.jsonl"),
                  "steps_file": str(out_dir / "capacity_steps.json"), **settings}
        config_path = paths.run_dir / "load-config.json"
        warmup = scenario.short_warmup_s if short else scenario.warmup_s
        config["measure_after_epoch"] = time.time() + warmup if warmup else 0.0
        config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        argv = locust_argv(scenario, out_dir, host=server.base_url, users=users, run_s=run_s, workers=workers)
        env = {**os.environ, CONFIG_ENV: str(config_path), "PYTHONPATH": str(PROJECT_ROOT)}
        assert server.process.pid is not None
        progress(f"{scenario.name}: {users} players, ~{run_s:.0f} s ({scenario.description})")
        with (_Sampler(server.process.pid) as sampler, (out_dir / "locust.out").open("wb") as out):
            proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            sampler.locust = psutil.Process(proc.pid)
            try:
                run.returncode = proc.wait(timeout=run_s + STARTUP_GRACE_S)
            except subprocess.TimeoutExpired:
                run.timed_out = True
                _stop_process(proc)
                run.returncode = proc.returncode
            finally:
                _stop_process(proc)
        run.server_peak_rss_mib = round(sampler.peak_rss / 2**20, 1)
        run.server_rss_mib = {"first": round((sampler.first_rss or 0) / 2**20, 1),
                              "last": round(sampler.last_rss / 2**20, 1)}
        run.generator_cpu_peak_pct = round(sampler.peak_cpu, 1)
    run.wall_s = time.monotonic() - started
    run.figures, run.connection = analyse(scenario, out_dir, settings)
    if run.returncode not in (0, None) or run.timed_out:
        tail = (out_dir / "locust.out").read_text(encoding="utf-8", errors="replace")[-1500:]
        run.error = f"locust exited {run.returncode}{' after a timeout' if run.timed_out else ''}: {tail}"
    progress(f"{scenario.name}: done in {run.wall_s:.0f} s")
    return run


def _run_guarded(scenario: LoadScenario, reports: Path, say: Progress, **kwargs: Any) -> ScenarioRun:
    """``run_scenario``, with a scenario that raised (a server that would not start) kept as a failed run:
    the other scenarios still run, and this one is missing from the completed list."""
    try:
        return run_scenario(scenario, reports=reports, progress=say, **kwargs)
    except Exception as exc:
        say(f"{scenario.name}: failed: {exc}")
        run = ScenarioRun(scenario.name, reports / "load" / scenario.name)
        run.error = f"{type(exc).__name__}: {exc}"
        return run


def run_load(names: Sequence[str] = (), *, workers: int = 1, duration: float | None = None, short: bool = False,
             reports: Path = DEFAULT_REPORTS, progress: Progress | None = None,
             server_env: Mapping[str, str] | None = None) -> LoadResult:
    """Run the named scenarios (all when none, the negative control included) one after another,
    then write the KPI file, declaring what was planned, what completed and what failed."""
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown load scenario(s) {unknown}; available: {', '.join(SCENARIOS)}")
    say = progress or (lambda _msg: None)
    started = datetime.now(UTC)
    planned = tuple(names or SCENARIOS)
    runs = [_run_guarded(SCENARIOS[n], reports, say, short=short, workers=workers, server_env=server_env,
                         duration=None if SCENARIOS[n].control_of else duration) for n in planned]
    kpi_path, completed, failures = write_load_suite(runs, planned, started=started, out_dir=reports / "kpi")
    summary = write_summary(reports / "load" / "summary.json", runs, short=short, workers=workers)
    return LoadResult(runs, kpi_path, summary, planned, completed, failures)
