"""``harness load``: Locust scenarios against a real mythos and nats-server, read back into KPIs.

Locust runs as a subprocess (importing it monkey-patches this process with gevent), headless,
with ``--json-file``, ``--csv`` and ``--html`` under ``reports/load/<scenario>/``. Each scenario
gets a fresh nats-server and mythos on free loopback ports, invite codes added to the server's
invites file, and a bounded run time; a run that overstays is stopped by PID. The simulated
players leave exact per-player counts (``players.jsonl``), Locust leaves round-trip histograms;
the figures below are pure functions of those files, and the flood's go to
``reports/kpi/load.json``; everything else goes to ``reports/load/summary.json``.
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from harness.kpi import KPIResult, kpi_from_catalogue, not_measured, write_suite
from harness.paths import DEFAULT_REPORTS, RunPaths
from harness.services.mythos import MythosServer
from harness.services.nats import NatsServer
from harness.services.process import free_port
from mythos.auth import InviteStore

__all__ = [
    "SCENARIOS",
    "LoadScenario",
    "ScenarioRun",
    "alias_figures",
    "capacity_figures",
    "chat_figures",
    "connection_figures",
    "failed",
    "flood_figures",
    "headline",
    "percentile",
    "run_load",
]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_ENV = "MYTHOS_LOAD_CONFIG"  # read by loadtests/config.py
RATE_LIMIT = 10
RATE_WINDOW_S = 1.0
MAX_RUN_S = 120.0  # the default bound per scenario; --duration may go beyond it on purpose
STARTUP_GRACE_S = 45.0  # Locust start, spawning, registrations and its own stop on top of the run time
SAMPLE_INTERVAL_S = 0.25
STOP_TIMEOUT_S = 10.0
ALIAS_RATE_TOLERANCE = 1.1  # executed/s may exceed the limit by clock skew between client and server only

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class LoadScenario:
    """A locustfile plus the config it runs with (full and short); ``shape`` runs stop themselves."""

    name: str
    locustfile: str
    description: str
    full: Mapping[str, Any]
    short: Mapping[str, Any]
    run_s: float
    short_run_s: float
    shape: bool = False
    warmup_s: float = 0.0
    short_warmup_s: float = 0.0

    def settings(self, short: bool) -> dict[str, Any]:
        return dict(self.short if short else self.full)

    def users(self, settings: Mapping[str, Any]) -> int:
        keys = {"flood": ("attackers", "players"), "alias_amplification": ("alias_attackers",),
                "chat_fanout": ("chat_players",), "capacity": ("capacity_max_users",)}[self.name]
        return sum(int(settings[k]) for k in keys)


SCENARIOS: Mapping[str, LoadScenario] = {
    s.name: s
    for s in (
        LoadScenario("flood", "loadtests/flood.py", "attackers at 50 cmd/s vs a 10/s limit, compliant players at 2/s",
                     full={"attackers": 10, "players": 20}, short={"attackers": 4, "players": 6},
                     run_s=60.0, short_run_s=16.0, warmup_s=10.0, short_warmup_s=6.0),
        LoadScenario("alias_amplification", "loadtests/alias_amplification.py",
                     "aliases of 10 commands fired in a loop; executed commands must stay at the limit",
                     full={"alias_attackers": 6, "alias_rate": 5.0}, short={"alias_attackers": 3, "alias_rate": 5.0},
                     run_s=40.0, short_run_s=15.0),
        LoadScenario("chat_fanout", "loadtests/chat_fanout.py", "many players in one room, each saying lines",
                     full={"chat_players": 40, "chat_lines": 8, "chat_interval_s": 2.0},
                     short={"chat_players": 15, "chat_lines": 4, "chat_interval_s": 2.0},
                     run_s=45.0, short_run_s=25.0),
        LoadScenario("capacity", "loadtests/capacity.py", "compliant players in steps until p99 > 100 ms",
                     full={"capacity_start_users": 10, "capacity_growth": 1.5, "capacity_max_users": 400},
                     short={"capacity_start_users": 5, "capacity_growth": 2.0, "capacity_max_users": 40,
                            "capacity_measure_s": 4.0},
                     run_s=115.0, short_run_s=30.0, shape=True),
    )
}


# -- pure figures ----------------------------------------------------------------------------------
def percentile(histogram: Mapping[int, int] | Mapping[str, int], fraction: float) -> float | None:
    """Locust's percentile of a ``{response_time_ms: count}`` histogram (the smallest value covering it)."""
    items = sorted((float(k), int(v)) for k, v in histogram.items() if int(v) > 0)
    total = sum(n for _, n in items)
    if total == 0:
        return None
    seen = 0
    for value, count in items:
        seen += count
        if seen >= fraction * total:
            return value
    return items[-1][0]


def merged_histogram(stats: Iterable[Mapping[str, Any]], request_type: str, name: str | None = None) -> dict[int, int]:
    """Sum the response-time histograms of Locust's JSON entries of one request type (and name)."""
    merged: dict[int, int] = {}
    for entry in stats:
        if entry.get("method") != request_type or (name is not None and entry.get("name") != name):
            continue
        for key, count in (entry.get("response_times") or {}).items():
            merged[int(float(key))] = merged.get(int(float(key)), 0) + int(count)
    return merged


def _role(records: Iterable[Mapping[str, Any]], role: str) -> list[Mapping[str, Any]]:
    return [r for r in records if r.get("role") == role]


def connection_figures(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Players that finished a connection attempt (register, login, WebSocket, first room_state); how many made it."""
    attempted = [r for r in records if r.get("connect_ok") or r.get("connect_error")]
    ok = sum(1 for r in attempted if r.get("connect_ok"))
    dropped = sum(1 for r in attempted if r.get("connect_ok") and r.get("closed"))
    errors = sorted({str(r["connect_error"]) for r in attempted if r.get("connect_error")})[:5]
    return {"attempts": len(attempted), "successes": ok, "dropped_after_connect": dropped,
            "rate": ok / len(attempted) if attempted else None, "errors": errors}


def flood_figures(records: Sequence[Mapping[str, Any]], stats: Sequence[Mapping[str, Any]], *,
                  limit: int, window_s: float) -> dict[str, Any]:
    """``dos_blocked_ratio`` = refused excess / excess, per attacker, over the span the server answered in.

    The limit lets ``limit`` commands through per window, so over a reply span of T seconds
    at most ``limit * (T / window + 1)`` may run; every answered command beyond that is excess
    and should have been refused with ``rate_limited``.
    """
    excess = blocked = sent = executed = refused = 0.0
    peak_in_window = 0
    for r in _role(records, "attacker"):
        answered = int(r["executed"]) + sum(int(v) for v in r["refused"].values())
        allowed = limit * (float(r["reply_span_s"]) / window_s + 1.0)
        mine = max(0.0, answered - allowed)
        rate_limited = int(r["refused"].get("rate_limited", 0))
        excess += mine
        blocked += min(rate_limited, mine)
        sent += int(r["sent"])
        executed += int(r["executed"])
        refused += rate_limited
        peak_in_window = max(peak_in_window, int(r["max_executed_in_window"]))
    players = _role(records, "player")
    compliant_refusals = sum(sum(int(v) for v in r["refused"].values()) for r in players)
    histogram = merged_histogram(stats, "player")
    with_warmup = merged_histogram(stats, "player-warmup")
    for rt, n in histogram.items():
        with_warmup[rt] = with_warmup.get(rt, 0) + n
    return {
        "attackers": len(_role(records, "attacker")), "players": len(players),
        "attacker_sent": int(sent), "attacker_executed": int(executed), "attacker_refused": int(refused),
        "excess": round(excess, 1), "excess_refused": round(blocked, 1),
        "dos_blocked_ratio": blocked / excess if excess > 0 else None,
        "attacker_max_executed_in_window": peak_in_window,
        "compliant_commands": sum(int(r["sent"]) for r in players),
        "compliant_refusals": compliant_refusals,
        "compliant_timeouts": sum(int(r["timeouts"]) for r in players),
        "compliant_measured": sum(histogram.values()),
        "compliant_p50_ms": percentile(histogram, 0.50), "compliant_p99_ms": percentile(histogram, 0.99),
        "compliant_p99_with_warmup_ms": percentile(with_warmup, 0.99),
    }


def alias_figures(records: Sequence[Mapping[str, Any]], *, limit: int, window_s: float,
                  alias_size: int) -> dict[str, Any]:
    """Executed commands per second per attacker, counted from the ``room_state`` each executed look sent."""
    attackers = _role(records, "alias")
    defined = [r for r in attackers if r.get("alias_defined")]
    rates, attempted = [], []
    for r in defined:
        span = float(r.get("flood_span_s") or 0.0)
        if span <= 0:
            continue
        executed = int(r["room_states"]) - int(r.get("room_states_before_flood", 0))
        rates.append(executed / span)
        attempted.append(int(r["sent"]) * alias_size / span)
    errors = sorted({str(r.get("alias_error")) for r in attackers if not r.get("alias_defined")})
    cap = limit / window_s
    return {
        "attackers": len(attackers), "alias_defined": len(defined), "alias_errors": errors[:3],
        "limit_per_s": cap,
        "attempted_commands_per_s": max(attempted) if attempted else None,
        "executed_commands_per_s_mean": sum(rates) / len(rates) if rates else None,
        "executed_commands_per_s_max": max(rates) if rates else None,
        "max_executed_in_window": max((int(r["max_room_states_in_window"]) for r in defined), default=None),
        "refused": {k: sum(int(r["refused"].get(k, 0)) for r in defined)
                    for k in sorted({k for r in defined for k in r["refused"]})},
        "capped": (max(rates) <= cap * ALIAS_RATE_TOLERANCE) if rates else None,
    }


def chat_figures(records: Sequence[Mapping[str, Any]], stats: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Delivery latency (``chat / say delivery``) and the share of lines that reached every other player."""
    chatters = [r for r in _role(records, "chat") if r.get("connect_ok")]
    listeners = len(chatters) - 1
    said = sum(int(r["chat_sent"]) for r in chatters)
    received = sum(int(r["chat_received"]) for r in chatters)
    expected = said * listeners if listeners > 0 else 0
    histogram = merged_histogram(stats, "chat", "say delivery")
    return {"players": len(chatters), "lines": said, "deliveries": received, "expected_deliveries": expected,
            "delivered_ratio": received / expected if expected else None,
            "room_size_min": min((int(r.get("room_size_at_start", 0)) for r in chatters), default=None),
            "delivery_p50_ms": percentile(histogram, 0.50), "delivery_p99_ms": percentile(histogram, 0.99),
            "delivery_max_ms": max(histogram, default=None)}


def capacity_figures(steps_doc: Mapping[str, Any]) -> dict[str, Any]:
    """The highest step whose own window kept p99 within the limit: commands/s and players."""
    steps = list(steps_doc.get("steps") or [])
    limit = float(steps_doc.get("p99_limit_ms") or 100.0)
    good = [s for s in steps if s.get("p99_ms") is not None and float(s["p99_ms"]) <= limit]
    best = max(good, key=lambda s: float(s["commands_per_s"]), default=None)
    crossed = any(s.get("p99_ms") is not None and float(s["p99_ms"]) > limit for s in steps)
    return {"steps": steps, "stop_reason": steps_doc.get("stop_reason"), "p99_limit_ms": limit,
            "crossed_limit": crossed,
            "sustained_commands_per_s": float(best["commands_per_s"]) if best else None,
            "sustained_players": int(best["users"]) if best else None,
            "sustained_p99_ms": float(best["p99_ms"]) if best else None}


# -- running ---------------------------------------------------------------------------------------
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
    stats = _read_json(out_dir / "locust.json", [])
    limit, window = int(settings["rate_limit"]), float(settings["rate_window_s"])
    if scenario.name == "flood":
        figures = flood_figures(records, stats, limit=limit, window_s=window)
    elif scenario.name == "alias_amplification":
        figures = alias_figures(records, limit=limit, window_s=window, alias_size=int(settings["alias_size"]))
    elif scenario.name == "chat_fanout":
        figures = chat_figures(records, stats)
    else:
        figures = capacity_figures(_read_json(out_dir / "capacity_steps.json", {}))
    return figures, connection_figures(records)


def run_scenario(scenario: LoadScenario, *, short: bool, workers: int, duration: float | None,
                 reports: Path, progress: Progress) -> ScenarioRun:
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
        extra_env={"RATE_LIMIT_MAX_COMMANDS": str(RATE_LIMIT), "RATE_LIMIT_WINDOW_SECONDS": str(RATE_WINDOW_S)},
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


def flood_kpis(flood: ScenarioRun | None, runs: Sequence[ScenarioRun]) -> list[KPIResult]:
    """The load suite's catalogue KPIs; the connection rate pools every scenario of this run."""
    kpis: list[KPIResult] = []
    evidence = "loadtests/flood.py via harness/load.py"
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
                                       f"loadtests via harness/load.py ({', '.join(r.name for r in runs)}): "
                                       f"{successes} of {attempts} players registered, logged in and connected"))
    return kpis


def write_summary(path: Path, runs: Sequence[ScenarioRun], *, short: bool, workers: int) -> Path:
    """Merge this run's scenarios into ``reports/load/summary.json`` (other scenarios' entries stay)."""
    summary = _read_json(path, {"scenarios": {}})
    summary.update({"updated": datetime.now(UTC).isoformat(), "short": short, "workers": workers,
                    "rate_limit": RATE_LIMIT, "rate_window_s": RATE_WINDOW_S})
    for run in runs:
        summary["scenarios"][run.name] = run.to_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    return path


@dataclass
class LoadResult:
    runs: list[ScenarioRun]
    kpi_path: Path | None
    summary_path: Path

    def run(self, name: str) -> ScenarioRun | None:
        return next((r for r in self.runs if r.name == name), None)


def run_load(names: Sequence[str] = (), *, workers: int = 1, duration: float | None = None, short: bool = False,
             reports: Path = DEFAULT_REPORTS, progress: Progress | None = None) -> LoadResult:
    """Run the named scenarios (all when none) one after another, then write the KPI and summary files."""
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown load scenario(s) {unknown}; available: {', '.join(SCENARIOS)}")
    say = progress or (lambda _msg: None)
    started = datetime.now(UTC)
    runs = [run_scenario(SCENARIOS[n], short=short, workers=workers, duration=duration, reports=reports,
                         progress=say) for n in (names or list(SCENARIOS))]
    kpis = flood_kpis(next((r for r in runs if r.name == "flood"), None), runs)
    kpi_path = write_suite("load", kpis, started=started, finished=datetime.now(UTC), out_dir=reports / "kpi",
                           merge=True) if kpis else None
    return LoadResult(runs, kpi_path, write_summary(reports / "load" / "summary.json", runs, short=short,
                                                    workers=workers))


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
    """Why ``harness load`` should exit 1: a Locust run that failed, or a load KPI below its spec."""
    reasons = [f"{r.name}: {r.error.splitlines()[0]}" for r in result.runs if r.error]
    if result.kpi_path is not None:
        report = json.loads(result.kpi_path.read_text(encoding="utf-8"))
        reasons += [f"{k['id']} = {k['value']} fails {k['comparator']} {k['threshold']}"
                    for k in report["kpis"] if not k["passed"]]
    return reasons
