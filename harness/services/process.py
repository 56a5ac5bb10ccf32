"""One managed child process: logs to a file, waits for real health, stops by PID.

Stopping sends SIGTERM to the PID we started and escalates to SIGKILL after a timeout, so a
wedged server never outlives the run. ``kill()`` is the nemesis's SIGKILL; ``start()`` again
brings the same command back (same port, same store).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import structlog

from mythos.local_nats import free_port

__all__ = ["ManagedProcess", "ProcessExitedError", "free_port", "new_run_id", "wait_until"]

log = structlog.get_logger(__name__)

STOP_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 0.05
LOG_TAIL_BYTES = 2000


class ProcessExitedError(RuntimeError):
    """The process died while we waited for it to become healthy."""


def new_run_id() -> str:
    """A sortable, unique-enough name for one run's directories."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}-{os.urandom(2).hex()}"


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str,
               alive: Callable[[], bool] | None = None, interval: float = POLL_INTERVAL_S) -> float:
    """Poll ``predicate`` until true; return the seconds it took. TimeoutError names ``what``."""
    started = time.monotonic()
    deadline = started + timeout
    last_error = ""
    while True:
        try:
            if predicate():
                return time.monotonic() - started
        except Exception as exc:  # a probe failing is the normal "not yet"
            last_error = f"{type(exc).__name__}: {exc}"
        if alive is not None and not alive():
            raise ProcessExitedError(f"{what}: process exited while waiting ({last_error})")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not ready after {timeout:.1f} s ({last_error or 'probe false'})")
        time.sleep(interval)


class ManagedProcess:
    """A child process with its output appended to ``log_path``; every signal goes to its PID."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, *,
                 env: Mapping[str, str] | None = None, cwd: Path | None = None,
                 stop_timeout: float = STOP_TIMEOUT_S) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.stop_timeout = stop_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._close_log()
        self._log = self.log_path.open("ab")
        self._log.write(f"\n=== {datetime.now(UTC).isoformat()} start {' '.join(self.argv)}\n".encode())
        self._log.flush()
        # A new session keeps a Ctrl-C at the terminal from reaching the servers before we stop them.
        self._proc = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=self.env, cwd=self.cwd,
                                      start_new_session=True)
        self.starts += 1
        log.info("process_started", name=self.name, pid=self._proc.pid)

    def _signal(self, sig: signal.Signals) -> None:
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, sig)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after ``stop_timeout``; returns the exit code."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                log.warning("process_sigkill_after_timeout", name=self.name, pid=self._proc.pid,
                            timeout_s=self.stop_timeout)
                self._signal(signal.SIGKILL)
                self._proc.wait(timeout=self.stop_timeout)
        code = self._proc.returncode
        log.info("process_stopped", name=self.name, pid=self._proc.pid, returncode=code)
        self._close_log()
        return code

    def kill(self) -> None:
        """SIGKILL now (the fault, not the teardown) and reap it."""
        if self._proc is None:
            return
        self._signal(signal.SIGKILL)
        self._proc.wait(timeout=self.stop_timeout)
        log.info("process_killed", name=self.name, pid=self._proc.pid)

    def start_until(self, ready: Callable[[], bool], *, timeout: float, what: str) -> float:
        """Start, then wait until `ready()`; on failure stop it and raise with the log's tail.

        Returns the seconds readiness took.
        """
        self.start()
        try:
            return wait_until(ready, timeout=timeout, what=what, alive=lambda: self.running)
        except (TimeoutError, RuntimeError) as exc:
            tail = self.log_tail()
            self.stop()
            raise RuntimeError(f"{exc}\n--- {self.log_path} ---\n{tail}") from exc

    def log_tail(self, size: int = LOG_TAIL_BYTES) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as handle:
            handle.seek(max(0, self.log_path.stat().st_size - size))
            return handle.read().decode(errors="replace")

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
