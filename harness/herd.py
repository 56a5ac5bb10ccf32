"""The herd scenario's parts: players, the Node herd of real client machines, and its figures.

``e2e/test_herd.py`` registers players on a real server, runs ``client/scripts/herd.mjs`` (one
real connection machine per player, in one Node process), restarts the server and judges the
JSON lines the herd wrote plus the server's own log. The arithmetic lives here so it is tested
on its own; :func:`herd_kpis` turns finished runs into the catalogue's herd KPIs.
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import structlog

from harness.e2e import percentile
from harness.kpi import KPIResult, kpi_from_catalogue, not_measured

__all__ = [
    "HerdProcess",
    "HerdRun",
    "analyse",
    "herd_kpis",
    "peak_per_second",
    "read_lines",
    "register_players",
    "server_opens",
]

log = structlog.get_logger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
HERD_SCRIPT = PROJECT_ROOT / "client" / "scripts" / "herd.mjs"
NODE_FLAGS = ("--experimental-websocket", "--no-warnings")
"""Node 20 has WebSocket only behind a flag; the herd brings its own EventSource (herdTransport.ts)."""
BUSY_PATIENCE_S = 60.0
"""How long one player keeps waiting out 503 login_busy (the hashing queue is full)."""
HTTP_TIMEOUT_S = 30.0
USER_AGENT = "mythos-herd"


# -- players -----------------------------------------------------------------------------------

def _post(client: httpx.Client, path: str, body: dict[str, str], expect: int) -> dict[str, Any]:
    """POST, waiting out 503 with Retry-After as the page does; any other answer is final."""
    deadline = time.monotonic() + BUSY_PATIENCE_S
    while True:
        response = client.post(path, json=body)
        retry_after = response.headers.get("Retry-After", "")
        if response.status_code == 503 and retry_after.isdigit() and time.monotonic() + int(retry_after) < deadline:
            time.sleep(max(0.05, int(retry_after)))
            continue
        if response.status_code != expect:
            raise RuntimeError(f"{path}: HTTP {response.status_code}: {response.text[:200]}")
        data: dict[str, Any] = response.json()
        return data


def register_players(base_url: str, invites: Sequence[str], *, prefix: str, workers: int = 4) -> list[str]:
    """Register and log in one player per invite; their access tokens, in invite order.

    A few at a time: each costs two argon2 hashes, and the server has two hashing slots behind a
    bounded queue that answers 503 login_busy when full.
    """
    def one(item: tuple[int, str]) -> str:
        index, invite = item
        username, password = f"{prefix}{index:03d}", f"pw-{prefix}-{index:03d}-{invite[:6]}"
        with httpx.Client(base_url=base_url, timeout=HTTP_TIMEOUT_S, headers={"User-Agent": USER_AGENT}) as client:
            _post(client, "/auth/register", {"username": username, "password": password, "invite_code": invite}, 201)
            body = _post(client, "/auth/login", {"username": username, "password": password}, 200)
        return str(body["access_token"])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, enumerate(invites)))


# -- the herd process --------------------------------------------------------------------------

class HerdProcess:
    """``with HerdProcess(base_url, tokens, out) as herd:`` the Node herd, stopped by its PID.

    Stopping closes its stdin (the herd writes every client's final state and exits), then
    SIGTERM, then SIGKILL, each after a bounded wait.
    """

    def __init__(self, base_url: str, tokens: Sequence[str], out: Path, *, max_seconds: float = 120.0,
                 ramp_ms: int = 2000, script: Path = HERD_SCRIPT) -> None:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not on PATH: the herd runs the client's machine in Node")
        out = out.resolve()  # the herd runs in client/, not here
        self.out = out
        self.tokens_file = out.with_suffix(".tokens.json")
        self.stderr_file = out.with_suffix(".stderr.log")
        self.script = script
        self.argv = [node, *NODE_FLAGS, str(script), "--base", base_url, "--tokens", str(self.tokens_file),
                     "--out", str(out), "--max-seconds", str(int(max_seconds)), "--ramp-ms", str(ramp_ms),
                     "--stop-on-stdin-close"]
        self._tokens = list(tokens)
        self._proc: subprocess.Popen[bytes] | None = None
        self._lines: list[dict[str, Any]] = []
        self._offset = 0
        self._stderr: Any = None

    def __enter__(self) -> HerdProcess:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tokens_file.write_text(json.dumps(self._tokens), encoding="utf-8")
        self._stderr = self.stderr_file.open("wb")
        self._proc = subprocess.Popen(self.argv, cwd=self.script.parent.parent, stdin=subprocess.PIPE,
                                      stdout=self._stderr, stderr=subprocess.STDOUT)
        log.info("herd_started", pid=self._proc.pid, clients=len(self._tokens))
        return self

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def lines(self) -> list[dict[str, Any]]:
        """Every whole line the herd has written so far; read on from where the last call stopped,
        so polling costs little CPU while the herd and the server need it."""
        if not self.out.exists():
            return self._lines
        with self.out.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        whole = chunk[:chunk.rfind(b"\n") + 1]
        self._offset += len(whole)
        for raw in whole.splitlines():
            try:
                self._lines.append(json.loads(raw))
            except json.JSONDecodeError:
                log.warning("herd_line_unreadable", line=raw[:200].decode(errors="replace"))
        return self._lines

    def wait_states(self, state: str, count: int, *, timeout: float, since_ms: float = 0.0) -> float:
        """Wait until ``count`` clients reached ``state`` after ``since_ms``; the epoch ms it happened."""
        deadline = time.monotonic() + timeout
        while True:
            reached = first_reach(self.lines(), state, since_ms)
            if len(reached) >= count:
                return sorted(reached.values())[count - 1]
            if not self.running:
                raise RuntimeError(f"the herd exited early:\n{self.stderr_file.read_text(errors='replace')[-2000:]}")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(reached)} of {count} clients reached {state} within {timeout} s")
            time.sleep(0.25)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self._proc is None:
            return None
        proc = self._proc
        try:
            if proc.poll() is None and proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=timeout)
        finally:
            if self._stderr is not None:
                self._stderr.close()
        log.info("herd_stopped", pid=proc.pid, code=proc.returncode)
        return proc.returncode

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


# -- figures -----------------------------------------------------------------------------------

def read_lines(path: Path) -> list[dict[str, Any]]:
    """The herd's JSON lines; a last line still being written is left for the next read."""
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(raw))
        except json.JSONDecodeError:
            continue
    return out


def first_reach(lines: Iterable[dict[str, Any]], state: str, since_ms: float) -> dict[int, float]:
    """For each client, the first time (epoch ms) it entered ``state`` at or after ``since_ms``."""
    reached: dict[int, float] = {}
    for line in lines:
        if line.get("kind") == "transition" and line.get("state") == state and float(line["t"]) >= since_ms:
            reached.setdefault(int(line["client"]), float(line["t"]))
    return reached


def peak_per_second(times_ms: Iterable[float]) -> int:
    """The most events inside any one-second span (a sliding window, not calendar seconds)."""
    ordered = sorted(times_ms)
    peak, start = 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= 1000.0:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


def server_opens(log_path: Path, since_ms: float, until_ms: float = math.inf, transport: str = "sse") -> list[float]:
    """Epoch ms of each ``connection_opened`` of ``transport`` in the server's JSON log within [since, until).

    Every attempt of the client starts with the SSE stream, so its opens are the attempts the
    server saw (an attempt refused while the server was down never reaches it).
    """
    times: list[float] = []
    for raw in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"connection_opened"' not in raw:
            continue
        try:
            entry = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if entry.get("event") != "connection_opened" or entry.get("transport") != transport:
            continue
        t = datetime.fromisoformat(str(entry["timestamp"]).replace("Z", "+00:00")).timestamp() * 1000
        if since_ms <= t < until_ms:
            times.append(t)
    return times


@dataclass(frozen=True, slots=True)
class HerdRun:
    """One restart under the herd, from the herd's log and the server's."""

    clients: int
    down_s: float
    """From the stop to the server answering health again."""
    recoveries_s: dict[int, float]
    """Per client that came back: server answering health -> its first fully_connected."""
    final_states: dict[int, str]
    peak_attempts_per_s: int
    """Attempts (entries to connecting_sse) in the busiest second, as the clients made them."""
    peak_server_opens_per_s: int
    """SSE streams the restarted server opened in its busiest second."""
    attempts_max: int
    server_alive: bool
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[int]:
        """Clients that did not come back: ended in ``failed`` or never reached fully_connected."""
        return sorted(c for c in range(self.clients)
                      if self.final_states.get(c) == "failed" or c not in self.recoveries_s)

    @property
    def recovery_p95_s(self) -> float:
        if not self.recoveries_s:
            return math.inf
        return percentile(list(self.recoveries_s.values()), 95)

    def describe(self) -> str:
        values = sorted(self.recoveries_s.values())
        spread = f"p50 {values[len(values) // 2]:.3f} s, max {values[-1]:.3f} s" if values else "none came back"
        return (f"{self.clients} clients, server down {self.down_s:.1f} s: recovery p95 "
                f"{self.recovery_p95_s:.3f} s ({spread}); peak {self.peak_attempts_per_s} attempts/s from "
                f"the clients, {self.peak_server_opens_per_s} streams/s opened by the server; "
                f"{len(self.failed)} not back; most attempts by one client {self.attempts_max}; "
                f"server {'alive' if self.server_alive else 'DEAD'}")


def analyse(lines: Sequence[dict[str, Any]], *, clients: int, stopped_ms: float, back_ms: float,
            server_open_times: Sequence[float], server_alive: bool) -> HerdRun:
    """The run's figures: each client's recovery after ``back_ms``, peaks, final states."""
    finals = {int(line["client"]): str(line["state"]) for line in lines if line.get("kind") == "final"}
    after = [line for line in lines if line.get("kind") == "transition" and float(line["t"]) >= stopped_ms]
    reached = first_reach(after, "fully_connected", stopped_ms)
    recoveries = {c: max(0.0, (t - back_ms) / 1000) for c, t in reached.items()}
    attempts = [float(line["t"]) for line in after if line.get("state") == "connecting_sse"]
    attempts_max = max((int(line.get("attempts", 0)) for line in after), default=0)
    return HerdRun(clients=clients, down_s=(back_ms - stopped_ms) / 1000, recoveries_s=recoveries,
                   final_states=finals, peak_attempts_per_s=peak_per_second(attempts),
                   peak_server_opens_per_s=peak_per_second(server_open_times), attempts_max=attempts_max,
                   server_alive=server_alive)


def herd_kpis(runs: Sequence[HerdRun]) -> list[KPIResult]:
    """herd_recovery_s (p95 over every client of every run) and herd_failed_clients."""
    if not runs:
        return [not_measured("herd_recovery_s", "the herd scenario did not run"),
                not_measured("herd_failed_clients", "the herd scenario did not run")]
    values = [v for run in runs for v in run.recoveries_s.values()]
    clients = sum(run.clients for run in runs)
    detail = "; ".join(run.describe() for run in runs)
    failed = sum(len(run.failed) for run in runs) + sum(0 if run.server_alive else run.clients for run in runs)
    results = [kpi_from_catalogue("herd_failed_clients", float(failed),
                                  f"e2e/test_herd.py, clients not back or in failed ({detail})", sample=clients)]
    if len(values) < clients:
        # A client that never came back has no recovery time: the p95 of the rest would flatter.
        results.insert(0, not_measured("herd_recovery_s",
                                       f"{clients - len(values)} of {clients} clients never came back ({detail})"))
    else:
        results.insert(0, kpi_from_catalogue("herd_recovery_s", round(percentile(values, 95), 3),
                                             f"e2e/test_herd.py, p95 over {len(values)} clients ({detail})",
                                             sample=clients))
    return results

