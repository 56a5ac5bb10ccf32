"""A real nats-server with JetStream on a temporary store, on a free loopback port.

Health is a real protocol round trip (INFO, CONNECT, PING -> PONG), not an open port: a
listening socket can exist before the server serves. ``kill()`` + ``start()`` is the
SIGKILL-and-restart fault; the port and the JetStream store survive it, so what JetStream
persisted (in the page cache; see the docs on power loss) is there after the restart.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

from harness.services.lifecycle import Managed
from harness.services.process import ManagedProcess, free_port
from mythos.local_nats import find_nats_server

__all__ = ["NatsServer", "nats_ping"]

HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0
PING_TIMEOUT_S = 1.0


def nats_ping(host: str, port: int, timeout: float = PING_TIMEOUT_S) -> bool:
    """True when a NATS server at host:port answers PING with PONG."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        buffer = b""
        while b"\r\n" not in buffer:
            chunk = sock.recv(4096)
            if not chunk:
                return False
            buffer += chunk
        if not buffer.startswith(b"INFO "):
            return False
        sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
        reply = b""
        while b"PONG\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk or b"-ERR" in reply:
                return False
            reply += chunk
        return True


class NatsServer(Managed):
    """``with NatsServer(log_dir) as nats: nats.url``; stops by PID and removes its store."""

    def __init__(self, log_dir: Path, *, name: str = "nats", port: int | None = None,
                 binary: Path | None = None, jetstream: bool = True,
                 start_timeout: float = START_TIMEOUT_S) -> None:
        self.name = name
        self.port = port or free_port(HOST)
        self.jetstream = jetstream
        self.start_timeout = start_timeout
        self.store_dir = Path(tempfile.mkdtemp(prefix=f"{name}-js-"))
        argv = [str(binary or find_nats_server()), "-a", HOST, "-p", str(self.port)]
        if jetstream:
            argv += ["-js", "-sd", str(self.store_dir)]
        self.process = ManagedProcess(name, argv, log_dir / f"{name}.log")

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def ping(self) -> bool:
        try:
            return nats_ping(HOST, self.port)
        except OSError:
            return False

    def start(self) -> float:
        """Start and wait for a PONG; returns the seconds it took."""
        return self.process.start_until(self.ping, timeout=self.start_timeout, what=f"{self.name} on {self.url}")

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush beyond what the OS already has."""
        self.process.kill()

    def restart(self) -> float:
        """Start again on the same port and store (after :meth:`kill` or :meth:`stop`)."""
        if self.process.running:
            self.process.stop()
        return self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.store_dir, ignore_errors=True)

    def release(self) -> None:
        self.close()
