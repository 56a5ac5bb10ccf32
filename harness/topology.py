"""The real topology: clients -> toxiproxy -> mythos x N -> toxiproxy -> nats-server.

Every link has its own Toxiproxy proxy, so a fault can cut, slow or blackhole one link alone:

- ``client-<i>``: what players dial to reach mythos instance i;
- ``nats-<i>``: what mythos instance i dials to reach NATS.

The topology is the faults' :class:`~harness.faults.base.FaultTarget`. Leaving it resets every
proxy (the heal of last resort) and stops the processes in reverse order, by PID.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import structlog

from harness.faults.base import Killable
from harness.paths import RunPaths
from harness.services.containers import NatsContainer, ToxiproxyContainer, docker_engine_answers
from harness.services.mythos import MythosServer
from harness.services.nats import NatsServer
from harness.services.toxiproxy import ProxyInfo, ToxiproxyClient, ToxiproxyError, ToxiproxyServer

__all__ = ["KNOWN_WEAK_ENV", "Topology", "TopologySpec"]

log = structlog.get_logger(__name__)

FAST_DETECTION_ENV: Mapping[str, str] = {
    "NATS_PING_INTERVAL": "1.0",
    "NATS_MAX_OUTSTANDING_PINGS": "2",
    "NATS_RECONNECT_WAIT": "0.5",
    "NATS_MAX_RECONNECT_ATTEMPTS": "-1",
}
"""nats-py's default 120 s ping would notice a blackhole after minutes; scenarios run in seconds."""

KNOWN_WEAK_ENV: Mapping[str, str] = {
    "NATS_USE_JETSTREAM": "false",
    "NATS_CORE_CREDIBILITY_CHECK": "true",  # the server refuses core NATS without it (ADR-004)
    "NATS_PUBLISH_RETRY_ATTEMPTS": "1",
}
"""Core NATS (at-most-once) without publish retries: what the chaos suite must show failing."""


@dataclass(frozen=True, slots=True)
class TopologySpec:
    """How many game servers, and the environment each runs with (on top of the contract's)."""

    mythos: int = 1
    jetstream: bool = True
    mythos_env: Mapping[str, str] = field(default_factory=lambda: dict(FAST_DETECTION_ENV))
    containers: bool = False
    """nats-server and Toxiproxy from testcontainers (needs a Docker engine); game servers stay local."""

    def __post_init__(self) -> None:
        if self.mythos < 0:
            raise ValueError("mythos must be >= 0")


class Topology:
    """``with Topology(spec, paths) as topo: topo.client_url(0)``."""

    def __init__(self, spec: TopologySpec, paths: RunPaths) -> None:
        self.spec = spec
        self.paths = paths
        self.nats: NatsServer | NatsContainer | None = None
        self.toxi: ToxiproxyServer | ToxiproxyContainer | None = None
        self.mythos: list[MythosServer] = []
        self.links: dict[str, ProxyInfo] = {}
        self._stack = contextlib.ExitStack()

    # -- FaultTarget
    @property
    def toxiproxy(self) -> ToxiproxyClient:
        if self.toxi is None:
            raise RuntimeError("topology not started")
        return self.toxi.client

    def proxy_name(self, link: str) -> str:
        if link not in self.links:
            raise KeyError(f"unknown link {link!r}; links: {sorted(self.links)}")
        return self.links[link].name

    def service(self, name: str) -> Killable:
        if name == "nats" and self.nats is not None:
            return self.nats
        for server in self.mythos:
            if server.name == name:
                return server
        raise KeyError(f"unknown service {name!r}; services: {['nats', *(m.name for m in self.mythos)]}")

    # -- addresses
    def client_url(self, index: int = 0) -> str:
        """The base URL players use for mythos ``index`` (through its client proxy)."""
        return f"http://127.0.0.1:{self.links[f'client-{index}'].port}"

    def describe(self) -> dict[str, Any]:
        return {
            "run": self.paths.run_id,
            "logs": str(self.paths.log_dir),
            "nats": {"url": self.nats.url, "pid": self.nats.pid} if self.nats else None,
            "toxiproxy": {"api": self.toxi.api_url if self.toxi else None},
            "links": {name: {"listen": p.listen, "upstream": p.upstream} for name, p in self.links.items()},
            "mythos": [{"name": m.name, "direct": m.base_url, "via_proxy": self.client_url(i),
                        "admin_password": m.admin_password, "pid": m.process.pid}
                       for i, m in enumerate(self.mythos)],
        }

    # -- lifecycle
    def start(self) -> None:
        self.paths.create()
        log_dir = self.paths.log_dir
        if self.spec.containers:
            if not docker_engine_answers():
                raise RuntimeError("containers=True but no Docker engine answers; use the local processes")
            self.nats = self._stack.enter_context(NatsContainer(log_dir, jetstream=self.spec.jetstream))
            self.toxi = self._stack.enter_context(ToxiproxyContainer(log_dir))
        else:
            self.nats = self._stack.enter_context(NatsServer(log_dir, jetstream=self.spec.jetstream))
            self.toxi = self._stack.enter_context(ToxiproxyServer(log_dir))
        self._stack.callback(self._reset_proxies)
        for index in range(self.spec.mythos):
            nats_link = self._link(f"nats-{index}", f"127.0.0.1:{self.nats.port}")
            server = MythosServer(self.paths.run_dir, log_dir, name=f"mythos-{index}",
                                  nats_url=f"nats://127.0.0.1:{nats_link.port}",
                                  extra_env=self.spec.mythos_env)
            self._stack.enter_context(server)
            self.mythos.append(server)
            self._link(f"client-{index}", f"127.0.0.1:{server.port}")
        log.info("topology_up", **{k: v for k, v in self.describe().items() if k != "mythos"})

    def _link(self, name: str, upstream: str) -> ProxyInfo:
        info = self.toxiproxy.create_proxy(f"{self.paths.run_id}-{name}"[-60:], upstream)
        self.links[name] = info
        return info

    def _reset_proxies(self) -> None:
        with contextlib.suppress(ToxiproxyError):
            self.toxiproxy.reset()

    def stop(self) -> None:
        self._stack.close()

    def __enter__(self) -> Topology:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
