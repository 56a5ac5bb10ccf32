"""The real topology: clients -> toxiproxy -> mythos x N -> toxiproxy -> nats-server (or a cluster).

Every link has its own Toxiproxy proxy, so a fault can cut, slow or blackhole one link alone:

- ``client-<i>``: what players dial to reach mythos instance i;
- ``nats-<i>``: what mythos instance i dials to reach NATS (with a cluster: its home node, node i
  modulo the cluster size);
- ``nats-<i>-to-<j>``: with a cluster, mythos i's links to the other nodes j, listed after its home
  node in its NATS_URL (nats-py keeps that order: NATS_DONT_RANDOMIZE), so it fails over to them;
- ``route-<j>-<i>``: with a cluster, node j's route to node i (harness.services.nats_cluster).

With ``nats_cluster=3`` Toxiproxy starts first (the routes dial through it), then the three nodes,
then the game servers, each with NATS_STREAM_REPLICAS=3 and NATS_DONT_RANDOMIZE=true. With
``db="postgres"`` one real PostgreSQL holds every game server's world (the same DATABASE_URL and
NPC_DATABASE_URL for all) and the servers share sessions (CLUSTER_SESSIONS=true, see
:func:`shared_env`); by default each game server has its own SQLite files.

The topology is the faults' :class:`~harness.faults.base.FaultTarget` (and, with a cluster,
:class:`~harness.faults.cluster.ClusterTarget`). Leaving it resets every proxy (the heal of last
resort) and stops the processes in reverse order, by PID.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog

from harness.faults.base import Killable
from harness.paths import RunPaths
from harness.services.containers import NatsContainer, ToxiproxyContainer, docker_engine_answers
from harness.services.lifecycle import Managed
from harness.services.mythos import MythosServer
from harness.services.nats import NatsServer
from harness.services.nats_cluster import NatsCluster
from harness.services.toxiproxy import ProxyInfo, ToxiproxyClient, ToxiproxyError, ToxiproxyServer

__all__ = ["KNOWN_WEAK_ENV", "Topology", "TopologySpec", "nats_link_names", "shared_env"]

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

CLUSTER_REPLICAS = 3
"""Copies of the chat stream and the session buckets on a cluster of three or more nodes."""


@dataclass(frozen=True, slots=True)
class TopologySpec:
    """How many game servers, and the environment each runs with (on top of the contract's)."""

    mythos: int = 1
    jetstream: bool = True
    mythos_env: Mapping[str, str] = field(default_factory=lambda: dict(FAST_DETECTION_ENV))
    containers: bool = False
    """nats-server and Toxiproxy from testcontainers (needs a Docker engine); game servers stay local."""
    nats_cluster: int = 1
    """NATS nodes: 1 is a single nats-server; more is a JetStream cluster whose routes pass through Toxiproxy."""
    db: Literal["sqlite", "postgres"] = "sqlite"
    """sqlite: each game server its own files; postgres: one real PostgreSQL shared by every game server."""

    def __post_init__(self) -> None:
        if self.mythos < 0:
            raise ValueError("mythos must be >= 0")
        if not 1 <= self.nats_cluster <= 5:
            raise ValueError(f"nats_cluster must be within 1..5, got {self.nats_cluster}")
        if self.db not in ("sqlite", "postgres"):
            raise ValueError(f"db must be sqlite or postgres, got {self.db!r}")
        if self.nats_cluster > 1 and self.containers:
            raise ValueError("a NATS cluster runs as local processes only (containers=False)")
        if self.nats_cluster > 1 and not self.jetstream:
            raise ValueError("a NATS cluster runs JetStream (jetstream=True)")


def shared_env(spec: TopologySpec) -> dict[str, str]:
    """What every game server runs with because of the topology (``mythos_env`` may override it).

    A NATS cluster: keep NATS_URL's order (home node first, so fault names keep their meaning)
    and replicate the chat stream. One world (``db="postgres"``): the cluster-wide session
    registry, whose buckets are replicated like the stream. The registry is keyed by player id,
    which only means one player when every server reads one database: with a SQLite file per
    server, player 2 of one world is not player 2 of another, and a login on one server would
    evict somebody else on the other. So CLUSTER_SESSIONS follows the shared database.
    """
    replicas = str(min(spec.nats_cluster, CLUSTER_REPLICAS))
    env: dict[str, str] = {}
    if spec.nats_cluster > 1:
        env |= {"NATS_DONT_RANDOMIZE": "true", "NATS_STREAM_REPLICAS": replicas}
    if spec.db == "postgres":
        env |= {"CLUSTER_SESSIONS": "true", "CLUSTER_KV_REPLICAS": replicas}
    return env

NPC_DATABASE = "mythos_npcs"
"""The NPC database beside PostgresServer's own ``mythos`` database; every game server shares both."""


def nats_link_names(index: int, nodes: int) -> list[str]:
    """Mythos ``index``'s NATS links in NATS_URL order: its home node first, then the others."""
    home = index % nodes
    order = [home, *((home + step) % nodes for step in range(1, nodes))]
    return [f"nats-{index}" if node == home else f"nats-{index}-to-{node}" for node in order]


class Topology(Managed):
    """``with Topology(spec, paths) as topo: topo.client_url(0)``."""

    def __init__(self, spec: TopologySpec, paths: RunPaths) -> None:
        self.spec = spec
        self.paths = paths
        self.nats: NatsServer | NatsContainer | None = None
        self.cluster: NatsCluster | None = None
        self.postgres: Any = None
        """A harness.services.postgres.PostgresServer with ``db="postgres"`` (imported only then)."""
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
        if self.cluster is not None:
            for node in self.cluster.nodes:
                if node.name == name:
                    return node
        if name == "postgres" and self.postgres is not None:
            killable: Killable = self.postgres
            return killable
        for server in self.mythos:
            if server.name == name:
                return server
        raise KeyError(f"unknown service {name!r}; services: {self.service_names()}")

    def service_names(self) -> list[str]:
        names = ["nats"] if self.nats is not None else []
        names += [node.name for node in self.cluster.nodes] if self.cluster is not None else []
        names += ["postgres"] if self.postgres is not None else []
        return names + [m.name for m in self.mythos]

    # -- ClusterTarget
    def peer_links(self, node: str) -> list[str]:
        """The route links to and from NATS node ``node`` (link names, as :meth:`proxy_name` takes them)."""
        if self.cluster is None:
            raise KeyError(f"no NATS cluster in this topology (asked for {node!r}'s routes)")
        return self.cluster.peer_links(node)

    def stream_leader(self, stream: str) -> str:
        """The NATS node leading ``stream`` now; raises when the cluster names none."""
        if self.cluster is None:
            raise KeyError(f"no NATS cluster in this topology (asked for {stream!r}'s leader)")
        leader = self.cluster.stream_leader(stream)
        if leader is None:
            raise RuntimeError(f"no node names a leader for stream {stream!r}")
        return leader

    # -- addresses
    def client_url(self, index: int = 0) -> str:
        """The base URL players use for mythos ``index`` (through its client proxy)."""
        return f"http://127.0.0.1:{self.links[f'client-{index}'].port}"

    def describe(self) -> dict[str, Any]:
        return {
            "run": self.paths.run_id,
            "logs": str(self.paths.log_dir),
            "nats": {"url": self.nats.url, "pid": self.nats.pid} if self.nats else None,
            "nats_cluster": self.cluster.describe() if self.cluster else None,
            "postgres": ({"url": self.postgres.url, "npc_url": self.postgres.database_url(NPC_DATABASE),
                          "pid": self.postgres.pid} if self.postgres is not None else None),
            "toxiproxy": {"api": self.toxi.api_url if self.toxi else None},
            "links": {name: {"listen": p.listen, "upstream": p.upstream} for name, p in self.links.items()},
            "mythos": [{"name": m.name, "direct": m.base_url, "via_proxy": self.client_url(i),
                        "nats_url": m.nats_url, "admin_password": m.admin_password, "pid": m.process.pid}
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
        elif self.spec.nats_cluster > 1:
            # The routes dial through Toxiproxy, so it comes first.
            self.toxi = self._stack.enter_context(ToxiproxyServer(log_dir))
        else:
            self.nats = self._stack.enter_context(NatsServer(log_dir, jetstream=self.spec.jetstream))
            self.toxi = self._stack.enter_context(ToxiproxyServer(log_dir))
        self._stack.callback(self._reset_proxies)
        if self.spec.nats_cluster > 1:
            self.cluster = self._stack.enter_context(NatsCluster(log_dir, self.spec.nats_cluster, link=self._link))
        # A scenario's own environment may override the topology's defaults; the database URLs are the topology's.
        env = {**shared_env(self.spec), **self.spec.mythos_env, **self._start_database()}
        # One world (a shared database) has one admin account and one token key.
        shared = self.postgres is not None
        admin_password = secrets.token_urlsafe(18) if shared else None
        jwt_secret = secrets.token_urlsafe(48) if shared else None
        for index in range(self.spec.mythos):
            server = MythosServer(self.paths.run_dir, log_dir, name=f"mythos-{index}",
                                  nats_url=self._nats_url(index), extra_env=env,
                                  admin_password=admin_password, jwt_secret=jwt_secret)
            self._stack.enter_context(server)
            self.mythos.append(server)
            self._link(f"client-{index}", f"127.0.0.1:{server.port}")
        log.info("topology_up", **{k: v for k, v in self.describe().items() if k != "mythos"})

    def _nats_url(self, index: int) -> str:
        """Mythos ``index``'s NATS_URL: its proxied link to every node, its home node first."""
        if self.cluster is None:
            assert self.nats is not None
            return f"nats://127.0.0.1:{self._link(f'nats-{index}', f'127.0.0.1:{self.nats.port}').port}"
        nodes = self.cluster.nodes
        urls = []
        for step, name in enumerate(nats_link_names(index, len(nodes))):
            node = nodes[(index + step) % len(nodes)]
            urls.append(f"nats://127.0.0.1:{self._link(name, f'127.0.0.1:{node.port}').port}")
        return ",".join(urls)

    def _start_database(self) -> dict[str, str]:
        """Start the shared database when asked; its URLs for every game server (none for SQLite)."""
        if self.spec.db != "postgres":
            return {}
        from harness.services.postgres import PostgresServer  # needs asyncpg: only with db="postgres"

        self.postgres = self._stack.enter_context(PostgresServer(self.paths.log_dir))
        return {"DATABASE_URL": self.postgres.url, "NPC_DATABASE_URL": self.postgres.create_database(NPC_DATABASE)}

    def _link(self, name: str, upstream: str) -> ProxyInfo:
        info = self.toxiproxy.create_proxy(f"{self.paths.run_id}-{name}"[-60:], upstream)
        self.links[name] = info
        return info

    def _reset_proxies(self) -> None:
        with contextlib.suppress(ToxiproxyError):
            self.toxiproxy.reset()

    def stop(self) -> None:
        self._stack.close()
