"""nats-server and Toxiproxy as containers (testcontainers), for engineers who have a Docker engine.

Optional: the local-process services are the main path and the one CI uses. These classes are
used only when :func:`docker_engine_answers` says a Docker engine is reachable, and expose the
same surface as :class:`~harness.services.nats.NatsServer` and
:class:`~harness.services.toxiproxy.ToxiproxyServer`, so the topology and the faults do not
change. The containers run on the host network (Linux), so every address is still a loopback
port and Toxiproxy reaches the game servers, which stay local processes, unchanged.
``kill()`` is ``docker kill`` (SIGKILL); ``restart()`` starts the same container again, with its
JetStream store. Needs the ``testcontainers`` package (imported lazily).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.services.lifecycle import Managed
from harness.services.nats import nats_ping
from harness.services.process import free_port, wait_until
from harness.services.toxiproxy import ToxiproxyClient

__all__ = ["NATS_IMAGE", "TOXIPROXY_IMAGE", "NatsContainer", "ToxiproxyContainer", "docker_engine_answers"]

HOST = "127.0.0.1"
NATS_IMAGE = "nats:2.10-alpine"
TOXIPROXY_IMAGE = "ghcr.io/shopify/toxiproxy:2.12.0"
START_TIMEOUT_S = 60.0
"""Includes an image pull on first use."""


def docker_engine_answers(timeout: float = 2.0) -> bool:
    """True when the docker SDK is installed and an engine answers a ping (never raises)."""
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=int(max(timeout, 1)))
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no socket, no permission, daemon down: all mean "no Docker here"
        return False


class _Container(Managed):
    """One host-network container: start, health wait, SIGKILL, restart, logs on stop."""

    def __init__(self, name: str, image: str, command: list[str], log_dir: Path) -> None:
        self.name = name
        self.image = image
        self.command = command
        self.log_path = log_dir / f"{name}.log"
        self._container: Any = None

    @property
    def pid(self) -> int | None:
        if self._container is None:
            return None
        wrapped = self._container.get_wrapped_container()
        wrapped.reload()
        pid = wrapped.attrs.get("State", {}).get("Pid")
        return int(pid) if pid else None

    def _healthy(self) -> bool:
        raise NotImplementedError

    def start(self) -> float:
        from testcontainers.core.container import DockerContainer

        if self._container is None:
            self._container = DockerContainer(self.image).with_command(self.command).with_kwargs(
                network_mode="host")
            self._container.start()
        else:
            self._container.get_wrapped_container().start()
        return wait_until(self._healthy, timeout=START_TIMEOUT_S, what=f"{self.name} container")

    def kill(self) -> None:
        if self._container is not None:
            self._container.get_wrapped_container().kill()

    def restart(self) -> float:
        return self.start()

    def stop(self) -> None:
        if self._container is None:
            return
        try:
            stdout, stderr = self._container.get_logs()
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self.log_path.write_bytes(stdout + stderr)
        finally:
            self._container.stop()
            self._container = None


class NatsContainer(_Container):
    """``with NatsContainer(log_dir) as nats: nats.url``: nats-server with JetStream, in a container."""

    def __init__(self, log_dir: Path, *, jetstream: bool = True, port: int | None = None) -> None:
        self.port = port or free_port(HOST)
        command = ["-a", HOST, "-p", str(self.port)] + (["-js", "-sd", "/data"] if jetstream else [])
        super().__init__("nats", NATS_IMAGE, command, log_dir)

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.port}"

    def ping(self) -> bool:
        try:
            return nats_ping(HOST, self.port)
        except OSError:
            return False

    def _healthy(self) -> bool:
        return self.ping()

    def close(self) -> None:
        self.stop()


class ToxiproxyContainer(_Container):
    """``with ToxiproxyContainer(log_dir) as toxi: toxi.client.create_proxy(...)``."""

    def __init__(self, log_dir: Path, *, port: int | None = None) -> None:
        self.port = port or free_port(HOST)
        self.client = ToxiproxyClient(HOST, self.port)
        super().__init__("toxiproxy", TOXIPROXY_IMAGE, ["-host", HOST, "-port", str(self.port)], log_dir)

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _healthy(self) -> bool:
        return bool(self.client.version())
