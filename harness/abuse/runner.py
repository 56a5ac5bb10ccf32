"""Runs the abuse suite: one real server, compliant players throughout, the attacks one by one.

Order of a run: nats-server and ``mythos serve`` on free loopback ports with the real default
throttles; accounts registered through the real API; the compliant players' process started;
the audit meter and VmRSS baselines taken; each attack within its budget, with one progress
line of its figures; the compliant players stopped; the server stopped (so a held-back audit
summary is flushed and counted); the KPIs and ``reports/abuse/summary.json`` written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from harness.abuse.attacks import ATTACKS, Attack
from harness.abuse.clients import http_client, login, register
from harness.abuse.compliant_log import CompliantLog, CompliantWindow, spoofing
from harness.abuse.context import Account, AttackContext, AttackOutcome, Progress
from harness.abuse.kpis import Totals, abuse_kpis
from harness.abuse.measure import AuditMeter, vm_rss_kib
from harness.kpi import KPIResult, write_suite
from harness.paths import DEFAULT_REPORTS, RunPaths
from harness.services.mythos import MythosServer
from harness.services.nats import NatsServer

__all__ = ["AbuseResult", "AttackRun", "run_abuse"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
COMPLIANT_ROLES = ("mover", "mover", "stayer")
COMPLIANT_TIMEOUT_S = 5.0
COMPLIANT_READY_S = 20.0
ATTACK_GRACE_S = 30.0
"""Beyond its own budget, what an attack may take (Locust start, draining, the owner's login)."""
SETTLE_S = 1.0


@dataclass
class AttackRun:
    name: str
    description: str
    started: float
    finished: float
    outcome: AttackOutcome | None
    error: str | None
    audit_bytes: int | None
    rss_kib: tuple[int | None, int | None]
    compliant: CompliantWindow

    @property
    def completed(self) -> bool:
        return self.outcome is not None and self.error is None

    def summary(self) -> dict[str, Any]:
        outcome = self.outcome or AttackOutcome()
        return {"name": self.name, "completed": self.completed, "error": self.error,
                "seconds": round(self.finished - self.started, 2), "refusals": outcome.refusals,
                "audit_bytes": self.audit_bytes, "rss_kib": list(self.rss_kib),
                "compliant_p99_ms": self.compliant.p99_ms, "compliant_commands": self.compliant.commands,
                "compliant_refused": dict(self.compliant.refused), "figures": outcome.figures,
                "failures": outcome.failures}

    def headline(self) -> str:
        took = f"{self.finished - self.started:.1f} s"
        if not self.completed:
            return f"{self.name}: FAILED to run after {took}: {self.error}"
        assert self.outcome is not None
        refusals = self.outcome.refusals
        audit = "-" if self.audit_bytes is None else f"+{self.audit_bytes / 1024:.1f} KiB"
        per = f" ({self.audit_bytes / refusals:.0f} B/refusal)" if refusals and self.audit_bytes is not None else ""
        before, after = self.rss_kib
        rss = "-" if before is None or after is None else f"{(after - before) / 1024:+.1f} MiB"
        return (f"{self.name}: {took}, {_figures(self.outcome.figures)}; {refusals} refusals, audit {audit}{per}, "
                f"rss {rss}, {self.compliant.headline()}")


def _figures(figures: Mapping[str, Any]) -> str:
    """Scalars first, then the nested figures as compact JSON; file paths stay in the summary."""
    scalars = [f"{k} {v}" for k, v in figures.items() if not isinstance(v, dict | list) and k != "locust_report"]
    nested = [f"{k} {json.dumps(v, separators=(',', ':'), ensure_ascii=True)}"
              for k, v in figures.items() if isinstance(v, dict | list)]
    return ", ".join(scalars + nested)


@dataclass
class AbuseResult:
    full: bool
    runs: list[AttackRun]
    kpis: list[KPIResult]
    failures: list[str]
    planned: list[str]
    kpi_path: Path | None
    summary_path: Path
    wall_s: float
    figures: dict[str, Any] = field(default_factory=dict)

    def run(self, name: str) -> AttackRun | None:
        return next((r for r in self.runs if r.name == name), None)

    @property
    def completed(self) -> list[str]:
        return [r.name for r in self.runs if r.completed]

    def kpi(self, kpi_id: str) -> KPIResult:
        return next(k for k in self.kpis if k.id == kpi_id)


class _Compliant:
    """The compliant players' process (started and stopped by PID) and its log."""

    def __init__(self, out_dir: Path, base_url: str, accounts: Sequence[Account]) -> None:
        self.out_dir = out_dir
        self.records = out_dir / "compliant.jsonl"
        self.ready = out_dir / "compliant.ready"
        self.stop_file = out_dir / "compliant.stop"
        for path in (self.records, self.ready, self.stop_file):
            path.unlink(missing_ok=True)
        players = [{"name": a.name, "token": a.token, "session_id": a.session_id, "role": role}
                   for a, role in zip(accounts, COMPLIANT_ROLES, strict=True)]
        config = {"base_url": base_url, "players": players, "out": str(self.records),
                  "ready_file": str(self.ready), "stop_file": str(self.stop_file),
                  "command_timeout_s": COMPLIANT_TIMEOUT_S, "max_s": 900}
        self.config = out_dir / "compliant.json"
        self.config.write_text(json.dumps(config, indent=2), encoding="utf-8")
        self.log = CompliantLog(self.records, COMPLIANT_TIMEOUT_S)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        with (self.out_dir / "compliant.out").open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "harness.abuse.compliant", str(self.config)],
                                         cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + COMPLIANT_READY_S
        while not self.ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = (self.out_dir / "compliant.out").read_text(encoding="utf-8", errors="replace")[-1500:]
                self.stop()
                raise RuntimeError(f"the compliant players did not connect: {tail}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.stop_file.write_text("stop", encoding="utf-8")
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.proc.wait(timeout=COMPLIANT_TIMEOUT_S + 5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


async def _accounts(server: MythosServer) -> dict[str, Account]:
    """Register (and log in) every account the run needs, through the real API."""
    names = ["mallory", "eve", "victim", *(f"compliant{i}" for i in range(len(COMPLIANT_ROLES)))]
    tag = secrets.token_hex(2)

    async def one(client: httpx.AsyncClient, role: str) -> Account:
        name, password = f"{role}{tag}", secrets.token_urlsafe(12)
        response = await register(client, name, password, server.take_invite())
        if response.status_code != 201:
            raise RuntimeError(f"registering {name}: HTTP {response.status_code} {response.text[:200]}")
        if role == "victim":
            return Account(name, password)
        answer = await login(client, name, password)
        if answer.token is None:
            raise RuntimeError(f"logging {name} in: HTTP {answer.status}")
        return Account(name, password, answer.token, secrets.token_hex(8))

    async with http_client(server.base_url, timeout=60.0) as client:
        made = await asyncio.gather(*(one(client, role) for role in names))
    return dict(zip(names, made, strict=True))


def _rss(pid: int) -> int | None:
    try:
        return vm_rss_kib(pid)
    except (OSError, RuntimeError):
        return None


async def _connections(base_url: str) -> int | None:
    try:
        async with http_client(base_url, timeout=3.0) as client:
            response = await client.get("/api/health")
        return int(response.json()["connections"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


async def _attack(attack: Attack, ctx: AttackContext, full: bool, meter: AuditMeter, pid: int,
                  compliant: CompliantLog, server: MythosServer) -> AttackRun:
    budget = attack.budget(full)
    started = time.time()
    audit_before = meter.poll()
    rss_before = _rss(pid)
    outcome: AttackOutcome | None = None
    error: str | None = None
    try:
        outcome = await asyncio.wait_for(attack.run(ctx, budget), budget.seconds + ATTACK_GRACE_S)
    except Exception as exc:  # an attack that crashed did not run: recorded, never a pass
        error = f"{type(exc).__name__}: {exc}"
    if not server.process.running:
        error = (error + "; " if error else "") + f"the server exited (code {server.process.returncode})"
    finished = time.time()
    audit_after = meter.poll()
    return AttackRun(attack.name, attack.description, started, finished, outcome, error,
                     audit_after - audit_before, (rss_before, _rss(pid)), compliant.window(started, finished))


async def _heard(log: CompliantLog, text: str, patience_s: float) -> bool:
    deadline = time.monotonic() + patience_s
    while time.monotonic() < deadline:
        if log.heard(text):
            return True
        await asyncio.sleep(0.05)
    return log.heard(text)


def _totals(runs: Sequence[AttackRun], log: CompliantLog, audit_bytes: int | None,
            rss: tuple[int | None, int | None]) -> Totals:
    done = [r for r in runs if r.completed]
    guesses: dict[str, float] = {}
    for r in done:
        figures = r.outcome.figures if r.outcome else {}
        if "guesses_per_hour" in figures:
            guesses[r.name] = float(figures["guesses_per_hour"])
    flood = next((r for r in done if r.name == "login_flood"), None)
    start = min((r.started for r in runs), default=0.0)
    end = max((r.finished for r in runs), default=0.0)
    return Totals(
        completed=[r.name for r in done],
        audit_bytes=audit_bytes,
        refusals=sum(r.outcome.refusals for r in done if r.outcome),
        abuse_s=end - start,
        guesses_per_hour=guesses,
        legit_login_ms=flood.outcome.samples.get("legit_login_ms") if flood and flood.outcome else None,
        compliant=log.window(start, end),
        rss_before_kib=rss[0],
        rss_after_kib=rss[1],
        spoofing=spoofing(log.refresh()),
        per_attack={r.name: {**(r.outcome.figures if r.outcome else {}), "audit_bytes": r.audit_bytes,
                             "refusals": r.outcome.refusals if r.outcome else 0} for r in runs},
    )


def _failures(runs: Sequence[AttackRun], planned: Sequence[str], log: CompliantLog) -> list[str]:
    failures: list[str] = []
    for r in runs:
        if r.error:
            failures.append(f"{r.name} did not complete: {r.error}")
        if r.outcome:
            failures += r.outcome.failures
        if r.compliant.refused:
            failures.append(f"{r.name}: compliant players were refused {dict(r.compliant.refused)}")
    ran = {r.name for r in runs}
    failures += [f"{name} did not run" for name in planned if name not in ran]
    losses = [x for x in log.losses()]
    if losses:
        failures.append(f"compliant players lost their connection {len(losses)} times "
                        f"(close codes {sorted({str(x.get('code')) for x in losses})})")
    return failures


@dataclass
class _Played:
    """What ``_play`` leaves behind for the figures once the server has stopped."""

    runs: list[AttackRun] = field(default_factory=list)
    rss_kib: tuple[int | None, int | None] = (None, None)
    log: CompliantLog | None = None
    meter: AuditMeter | None = None


async def _play(server: MythosServer, attacks: Sequence[Attack], full: bool, out_dir: Path, say: Progress,
                began: float, played: _Played) -> None:
    """Accounts, compliant players and every attack against the running ``server``."""
    assert server.process.pid is not None
    pid = server.process.pid
    accounts = await _accounts(server)
    compliant_accounts = [accounts[f"compliant{i}"] for i in range(len(COMPLIANT_ROLES))]
    compliant = _Compliant(out_dir, server.base_url, compliant_accounts)
    played.log = compliant.log
    await asyncio.to_thread(compliant.start)
    try:
        played.meter = meter = AuditMeter(server.work_dir / "logs" / "audit").start()
        await asyncio.sleep(SETTLE_S)
        rss_before = _rss(pid)
        played.rss_kib = (rss_before, None)
        ctx = AttackContext(
            base_url=server.base_url, server_pid=pid, admin_password=server.admin_password,
            mallory=accounts["mallory"], eve=accounts["eve"],
            victim=accounts["victim"], compliant=compliant_accounts, take_invite=server.take_invite,
            connections=lambda: _connections(server.base_url),
            heard=lambda text, timeout: _heard(compliant.log, text, timeout),
            out_dir=out_dir, progress=say)
        rss_text = "-" if rss_before is None else f"{rss_before / 1024:.1f} MiB"
        say(f"abuse: setup took {time.monotonic() - began:.1f} s; {len(attacks)} attacks; server rss {rss_text}")
        for attack in attacks:
            run = await _attack(attack, ctx, full, meter, pid, compliant.log, server)
            played.runs.append(run)
            say(run.headline())
            if not server.process.running:
                break
        await asyncio.sleep(SETTLE_S)
        played.rss_kib = (rss_before, _rss(pid))
    finally:
        await asyncio.to_thread(compliant.stop)


async def _run(full: bool, names: Sequence[str], reports: Path, say: Progress,
               server_env: Mapping[str, str] | None) -> AbuseResult:
    began = time.monotonic()
    started_at = datetime.now(UTC)
    attacks = [ATTACKS[n] for n in names]
    planned = [a.name for a in attacks]
    out_dir = reports / "abuse"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = RunPaths.new("abuse", reports).create()
    played = _Played()
    say(f"abuse ({'full' if full else 'short'}): starting nats-server and mythos")
    stopped: str | None = None
    try:
        with NatsServer(paths.log_dir) as nats, MythosServer(paths.run_dir, paths.log_dir, nats_url=nats.url,
                                                             extra_env=server_env) as server:
            await _play(server, attacks, full, out_dir, say, began, played)
    except Exception as exc:  # setup or teardown broke: still write what was measured, failed
        stopped = f"the run stopped early: {type(exc).__name__}: {exc}"
        say(stopped)
    finally:
        # After the server stopped: what it flushes on shutdown (a held-back summary) counts too.
        audit_bytes = played.meter.stop() if played.meter is not None else None
    log = played.log or CompliantLog(out_dir / "compliant.jsonl", COMPLIANT_TIMEOUT_S)
    totals = _totals(played.runs, log, audit_bytes, played.rss_kib)
    kpis = abuse_kpis(totals)
    failures = _failures(played.runs, planned, log) + ([stopped] if stopped else [])
    kpi_path = write_suite("abuse", kpis, started=started_at, finished=datetime.now(UTC), out_dir=reports / "kpi",
                           planned=planned, completed=list(totals.completed), failures=failures)
    wall = time.monotonic() - began
    figures = {"audit_bytes": audit_bytes, "refusals": totals.refusals, "abuse_s": round(totals.abuse_s, 2),
               "rss_kib": list(played.rss_kib),
               "spoofing_samples": list(totals.spoofing.samples) if totals.spoofing else []}
    summary_path = out_dir / "summary.json"
    summary = {"profile": "full" if full else "short", "wall_s": round(wall, 1), "planned": planned,
               "completed": list(totals.completed), "failures": failures, "figures": figures,
               "kpis": [k.to_dict() for k in kpis], "attacks": [r.summary() for r in played.runs],
               "run_dir": str(paths.run_dir), "log_dir": str(paths.log_dir)}
    summary_path.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    say(f"abuse: {len(totals.completed)}/{len(planned)} attacks completed in {wall:.1f} s; "
        f"{len(failures)} failed checks; wrote {kpi_path}")
    return AbuseResult(full, played.runs, kpis, failures, planned, kpi_path, summary_path, wall, figures)


def run_abuse(names: Sequence[str] = (), *, full: bool = False, reports: Path = DEFAULT_REPORTS,
              progress: Progress | None = None, server_env: Mapping[str, str] | None = None) -> AbuseResult:
    """Run the named attacks (all when none) in the short or full profile; write reports/kpi/abuse.json.

    ``server_env`` overrides the server's environment, for negative controls only (a known-weak
    server must score red); a real run uses the defaults a deployment has.
    """
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        raise ValueError(f"unknown attack(s) {unknown}; available: {', '.join(ATTACKS)}")
    say = progress or (lambda _message: None)
    return asyncio.run(_run(full, list(names) or list(ATTACKS), reports, say, server_env))

