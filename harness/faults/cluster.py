"""Faults of a NATS cluster: cut one node off from its peers, SIGKILL the stream's leader, stop a node.

- ``partition_nats_node``: every route proxy to and from the node is disabled, so its routes
  drop and cannot come back until the heal enables them. Its clients stay connected to it (the
  game servers whose home node it is): they are the ones cut off, from the stream's majority.
- ``kill_nats_leader``: asks the cluster which node leads the stream *now*, SIGKILLs that node and
  restarts it as the heal. The node it chose is the fault's ``effect``, recorded in the history.
- ``stop_nats_node``: a graceful stop (SIGTERM) of one node and a restart as the heal: one step
  of a rolling restart. The restart returns once the node is healthy in the cluster again.

Each heal is idempotent and restarts only what its start took down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import structlog

from harness.faults.base import FaultTarget
from harness.faults.service import Stoppable, StopService, StopServiceParams

__all__ = [
    "DEFAULT_STREAM",
    "ClusterTarget",
    "KillNatsLeader",
    "KillNatsLeaderParams",
    "PartitionNatsNode",
    "PartitionNatsNodeParams",
    "StopNatsNode",
    "StopNatsNodeParams",
    "Stoppable",
]

log = structlog.get_logger(__name__)

DEFAULT_STREAM = "MYTHOS_CHAT"
"""mythos.realtime.jetstream.StreamSpec's stream name (not imported: faults do not import the server)."""


class ClusterTarget(FaultTarget, Protocol):
    """A topology with a NATS cluster: its route links and who leads a stream."""

    def peer_links(self, node: str) -> list[str]: ...

    def stream_leader(self, stream: str) -> str: ...


def _cluster(target: FaultTarget) -> ClusterTarget:
    if not (hasattr(target, "peer_links") and hasattr(target, "stream_leader")):
        raise TypeError("this fault needs a topology with a NATS cluster (TopologySpec(nats_cluster=3))")
    return target  # type: ignore[return-value]  # checked above: the protocol's two extra methods


@dataclass(frozen=True, slots=True)
class PartitionNatsNodeParams:
    node: str = "nats-0"


class PartitionNatsNode:
    name: ClassVar[str] = "partition_nats_node"

    def __init__(self, params: PartitionNatsNodeParams) -> None:
        self._params = params

    @property
    def params(self) -> PartitionNatsNodeParams:
        return self._params

    @property
    def effect(self) -> dict[str, Any]:
        return {"node": self._params.node}

    def _set(self, target: FaultTarget, enabled: bool) -> None:
        for link in _cluster(target).peer_links(self._params.node):
            target.toxiproxy.set_enabled(target.proxy_name(link), enabled)

    def start(self, target: FaultTarget) -> None:
        self._set(target, False)

    def heal(self, target: FaultTarget) -> None:
        self._set(target, True)


@dataclass(frozen=True, slots=True)
class KillNatsLeaderParams:
    stream: str = DEFAULT_STREAM


class KillNatsLeader:
    name: ClassVar[str] = "kill_nats_leader"

    def __init__(self, params: KillNatsLeaderParams) -> None:
        self._params = params
        self.killed: str | None = None

    @property
    def params(self) -> KillNatsLeaderParams:
        return self._params

    @property
    def effect(self) -> dict[str, Any]:
        return {"killed": self.killed, "stream": self._params.stream}

    def start(self, target: FaultTarget) -> None:
        leader = _cluster(target).stream_leader(self._params.stream)
        target.service(leader).kill()
        self.killed = leader
        log.info("nats_leader_killed", node=leader, stream=self._params.stream)

    def heal(self, target: FaultTarget) -> None:
        if self.killed is not None:  # a restart without a kill would start a second copy on the same port
            target.service(self.killed).restart()
            self.killed = None


@dataclass(frozen=True, slots=True)
class StopNatsNodeParams(StopServiceParams):
    service: str = "nats-0"


class StopNatsNode(StopService):
    """A graceful stop of one NATS node, restarted as the heal: ``stop_service`` under its own
    name, so the checkers count it as a NATS outage."""

    name: ClassVar[str] = "stop_nats_node"
