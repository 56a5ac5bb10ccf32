"""A NATS JetStream cluster on loopback whose routes pass through Toxiproxy.

Three (``size``) nats-server processes, each with a ``server_name``, its own store directory,
JetStream, a client port, a cluster port and a monitoring port, all on 127.0.0.1. Every route
between two nodes is dialled through its own Toxiproxy proxy: node j's route to node i dials
``route-j-i``, whose upstream is node i's cluster port. NATS keeps one route per pair of nodes
(whichever side's dial wins), so cutting node i off from its peers means disabling both
directions, ``route-i-j`` and ``route-j-i`` for every peer j (:meth:`NatsCluster.peer_links`).

Two settings keep the proxies in the path:

- ``no_advertise``: a node does not tell clients the other nodes' direct client addresses
  (INFO ``connect_urls``); nats-py would otherwise add them to its pool and reconnect around
  the client-side proxies;
- the cluster ``advertise`` address is a closed loopback port: a node that learns of a peer
  through gossip (an implicit route) cannot dial its real cluster port behind the proxies' back.
  The explicit routes form the full mesh, so no implicit route is needed.

The cluster is up when every node answers PING and every node names the same JetStream meta
leader and says it is healthy (``/healthz``): before that, stream creation can fail with "no
JetStream meta leader". A node's ``restart()`` after a kill or stop waits the same way, so a
heal returns once the node is back in the cluster and caught up.

Toxiproxy must be running first (the route proxies are created before the nodes start); the
topology starts it, then the cluster, then the game servers.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import structlog

from harness.services.lifecycle import Managed
from harness.services.nats import nats_ping
from harness.services.process import ManagedProcess, free_port, wait_until
from harness.services.toxiproxy import ProxyInfo
from mythos.local_nats import find_nats_server

__all__ = ["CLUSTER_NAME", "NatsCluster", "NatsNode", "route_link"]

log = structlog.get_logger(__name__)

HOST = "127.0.0.1"
CLUSTER_NAME = "mythos"
START_TIMEOUT_S = 45.0
"""Three processes and a meta-leader election on a busy 2-core machine."""
READY_TIMEOUT_S = 45.0
"""A restarted node catching up with its streams and consumers (``/healthz`` ok)."""
HTTP_TIMEOUT_S = 2.0

LinkFactory = Callable[[str, str], ProxyInfo]
"""``link(name, upstream) -> proxy``: creates a Toxiproxy proxy the topology knows by ``name``."""


def route_link(src: int, dst: int) -> str:
    """The name of the proxy node ``src`` dials to reach node ``dst``'s cluster port."""
    return f"route-{src}-{dst}"


def _closed_port() -> int:
    """A loopback port nothing listens on (bound and released; nobody else binds it in practice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class NodePorts:
    client: int
    cluster: int
    monitor: int
    advertise: int
    """A closed port named as the cluster advertise address (see the module docstring)."""

    @classmethod
    def allocate(cls) -> NodePorts:
        return cls(free_port(HOST), free_port(HOST), free_port(HOST), _closed_port())


class NatsNode:
    """One cluster member with NatsServer's API: ``url``, ``pid``, ``ping``, ``kill``, ``restart``, ``stop``."""

    def __init__(self, log_dir: Path, work_dir: Path, *, index: int, name: str, binary: Path,
                 cluster_name: str = CLUSTER_NAME, ready_timeout: float = READY_TIMEOUT_S) -> None:
        self.index = index
        self.name = name
        self.cluster_name = cluster_name
        self.ready_timeout = ready_timeout
        self.ports = NodePorts.allocate()
        self.port = self.ports.client
        self.store_dir = work_dir / f"{name}-js"
        self.config_path = work_dir / f"{name}.conf"
        self.routes: list[str] = []
        self.process = ManagedProcess(name, [str(binary), "-c", str(self.config_path)], log_dir / f"{name}.log")

    # -- addresses
    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{HOST}:{self.ports.monitor}"

    @property
    def cluster_url(self) -> str:
        return f"nats-route://{HOST}:{self.ports.cluster}"

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.running

    # -- configuration
    def config_text(self) -> str:
        """The node's nats-server configuration (JSON is valid NATS config syntax)."""
        config = {
            "server_name": self.name,
            "listen": f"{HOST}:{self.ports.client}",
            "http": f"{HOST}:{self.ports.monitor}",
            "jetstream": {"store_dir": str(self.store_dir)},
            "cluster": {
                "name": self.cluster_name,
                "listen": f"{HOST}:{self.ports.cluster}",
                "advertise": f"{HOST}:{self.ports.advertise}",
                "no_advertise": True,
                "routes": list(self.routes),
            },
        }
        return json.dumps(config, indent=2) + "\n"

    def write_config(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text(), encoding="utf-8")

    # -- probes
    def ping(self) -> bool:
        try:
            return nats_ping(HOST, self.port)
        except OSError:
            return False

    def monitor(self, path: str) -> dict[str, Any]:
        """GET a monitoring endpoint (``/jsz?...``, ``/healthz``) as JSON; raises OSError when down.

        ``/healthz`` answers 503 with a JSON body when unhealthy: the body is returned either way.
        """
        try:
            response = httpx.get(f"{self.monitor_url}{path}", timeout=HTTP_TIMEOUT_S,
                                 headers={"User-Agent": "mythos-harness"})
        except httpx.HTTPError as exc:
            raise OSError(f"{self.name} monitoring {path}: {type(exc).__name__}: {exc}") from exc
        body: dict[str, Any] = response.json()
        return body

    def healthy(self) -> bool:
        """``/healthz`` ok: JetStream enabled, the meta group and this node's streams current."""
        try:
            return self.monitor("/healthz").get("status") == "ok"
        except (OSError, ValueError):
            return False

    def meta_leader(self) -> str | None:
        try:
            meta = self.monitor("/jsz").get("meta_cluster") or {}
        except (OSError, ValueError):
            return None
        leader = meta.get("leader")
        return str(leader) if leader else None

    def stream_leader(self, stream: str) -> str | None:
        """The stream's leader as this node sees it (None when it hosts no replica or has no leader)."""
        try:
            jsz = self.monitor("/jsz?accounts=true&streams=true")
        except (OSError, ValueError):
            return None
        for account in jsz.get("account_details") or ():
            for detail in account.get("stream_detail") or ():
                if detail.get("name") == stream:
                    leader = (detail.get("cluster") or {}).get("leader")
                    return str(leader) if leader else None
        return None

    # -- lifecycle
    def start_process(self) -> None:
        self.write_config()
        self.process.start()

    def wait_serving(self, timeout: float) -> float:
        """Until the node answers PING; on failure the process is stopped and the log tail raised."""
        try:
            return wait_until(self.ping, timeout=timeout, what=f"{self.name} on {self.url}",
                              alive=lambda: self.process.running)
        except (TimeoutError, RuntimeError) as exc:
            tail = self.process.log_tail()
            self.process.stop()
            raise RuntimeError(f"{exc}\n--- {self.process.log_path} ---\n{tail}") from exc

    def start(self) -> float:
        """Start and wait until it serves and is healthy in the cluster; returns the seconds it took."""
        self.start_process()
        took = self.wait_serving(self.ready_timeout)
        return took + wait_until(self.healthy, timeout=self.ready_timeout,
                                 what=f"{self.name} JetStream healthy", alive=lambda: self.process.running)

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no step-down; JetStream's files stay as the page cache has them."""
        self.process.kill()

    def restart(self) -> float:
        """Start again on the same ports and store, and wait until it is healthy in the cluster."""
        if self.process.running:
            self.process.stop()
        took = self.start()
        log.info("nats_node_restarted", node=self.name, ready_s=round(took, 3))
        return took

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "cluster": f"{HOST}:{self.ports.cluster}",
                "monitor": self.monitor_url, "pid": self.pid, "routes_via": list(self.routes)}


class NatsCluster(Managed):
    """``with NatsCluster(log_dir, link=topology_link) as cluster: cluster.nodes[0].url``.

    ``link(name, upstream)`` creates the route proxies (Toxiproxy must already run). Stops every
    node by PID and removes the store directories on exit.
    """

    def __init__(self, log_dir: Path, size: int = 3, *, link: LinkFactory, name_prefix: str = "nats",
                 binary: Path | None = None, cluster_name: str = CLUSTER_NAME,
                 start_timeout: float = START_TIMEOUT_S) -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        self.size = size
        self.start_timeout = start_timeout
        self._link = link
        self.work_dir = Path(tempfile.mkdtemp(prefix="nats-cluster-"))
        nats_binary = binary or find_nats_server()
        self.nodes = [NatsNode(log_dir, self.work_dir, index=i, name=f"{name_prefix}-{i}", binary=nats_binary,
                               cluster_name=cluster_name)
                      for i in range(size)]
        self.route_proxies: dict[str, ProxyInfo] = {}

    def node(self, name: str) -> NatsNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"unknown NATS node {name!r}; nodes: {[n.name for n in self.nodes]}")

    def peer_links(self, name: str) -> list[str]:
        """Every route proxy to and from node ``name``: disabling them all cuts it off from its peers."""
        index = self.node(name).index
        return [link for j in range(self.size) if j != index
                for link in (route_link(index, j), route_link(j, index))]

    # -- cluster state
    def meta_leader(self) -> str | None:
        """The JetStream meta leader every running node agrees on; None while they disagree or none."""
        leaders = {node.meta_leader() for node in self.nodes if node.running}
        return leaders.pop() if len(leaders) == 1 else None

    def ready(self) -> bool:
        """Every running node serves, agrees on one meta leader and is healthy."""
        running = [n for n in self.nodes if n.running]
        return bool(running) and self.meta_leader() is not None and all(n.healthy() for n in running)

    def wait_ready(self, timeout: float | None = None) -> float:
        return wait_until(self.ready, timeout=self.start_timeout if timeout is None else timeout,
                          what="NATS cluster meta leader", interval=0.2)

    def stream_leader(self, stream: str, nodes: Sequence[NatsNode] | None = None) -> str | None:
        """The node leading ``stream``: the answer of a majority of the running nodes that know it."""
        votes: dict[str, int] = {}
        for node in nodes or [n for n in self.nodes if n.running]:
            leader = node.stream_leader(stream)
            if leader is not None:
                votes[leader] = votes.get(leader, 0) + 1
        if not votes:
            return None
        return max(votes.items(), key=lambda item: item[1])[0]

    # -- lifecycle
    def start(self) -> float:
        """Create the route proxies, start every node, wait for a meta leader; returns the seconds."""
        for src in self.nodes:
            for dst in self.nodes:
                if src is dst:
                    continue
                name = route_link(src.index, dst.index)
                proxy = self._link(name, f"{HOST}:{dst.ports.cluster}")
                self.route_proxies[name] = proxy
                src.routes.append(f"nats-route://{HOST}:{proxy.port}")
        for node in self.nodes:
            node.start_process()
        took = 0.0
        for node in self.nodes:
            took = max(took, node.wait_serving(self.start_timeout))
        took += self.wait_ready()
        log.info("nats_cluster_ready", nodes=[n.name for n in self.nodes], meta_leader=self.meta_leader(),
                 ready_s=round(took, 3))
        return took

    def stop(self) -> None:
        for node in reversed(self.nodes):
            with contextlib.suppress(Exception):
                node.stop()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def describe(self) -> dict[str, Any]:
        return {"meta_leader": self.meta_leader(), "nodes": [n.describe() for n in self.nodes]}

    def release(self) -> None:
        self.close()
