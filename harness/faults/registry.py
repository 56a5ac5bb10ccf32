"""Faults by name: one explicit table, so nothing registers itself on import."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, fields
from typing import Any, NamedTuple

from harness.faults.bandwidth import Bandwidth, BandwidthParams
from harness.faults.base import Fault
from harness.faults.blackhole import Blackhole, BlackholeParams
from harness.faults.cluster import (
    KillNatsLeader,
    KillNatsLeaderParams,
    PartitionNatsNode,
    PartitionNatsNodeParams,
    StopNatsNode,
    StopNatsNodeParams,
)
from harness.faults.flapping import Flapping, FlappingParams
from harness.faults.kill import KillMythos, KillMythosParams, KillNats, KillNatsParams
from harness.faults.latency import Latency, LatencyParams
from harness.faults.limit_data import LimitData, LimitDataParams
from harness.faults.partition import Partition, PartitionParams
from harness.faults.reset_peer import ResetPeer, ResetPeerParams
from harness.faults.service import StopService, StopServiceParams
from harness.faults.slicer import Slicer, SlicerParams
from harness.faults.slow_close import SlowClose, SlowCloseParams

__all__ = ["FAULTS", "FaultKind", "fault_from_json", "fault_to_json", "make_fault"]


class FaultKind(NamedTuple):
    params: type[Any]
    factory: Callable[[Any], Fault]


FAULTS: Mapping[str, FaultKind] = {
    "partition": FaultKind(PartitionParams, Partition),
    "latency": FaultKind(LatencyParams, Latency),
    "bandwidth": FaultKind(BandwidthParams, Bandwidth),
    "slow_close": FaultKind(SlowCloseParams, SlowClose),
    "slicer": FaultKind(SlicerParams, Slicer),
    "limit_data": FaultKind(LimitDataParams, LimitData),
    "reset_peer": FaultKind(ResetPeerParams, ResetPeer),
    "blackhole": FaultKind(BlackholeParams, Blackhole),
    "kill_nats": FaultKind(KillNatsParams, KillNats),
    "kill_mythos": FaultKind(KillMythosParams, KillMythos),
    "flapping": FaultKind(FlappingParams, Flapping),
    "partition_nats_node": FaultKind(PartitionNatsNodeParams, PartitionNatsNode),
    "kill_nats_leader": FaultKind(KillNatsLeaderParams, KillNatsLeader),
    "stop_nats_node": FaultKind(StopNatsNodeParams, StopNatsNode),
    "stop_service": FaultKind(StopServiceParams, StopService),
}


def make_fault(name: str, **params: Any) -> Fault:
    """Build fault ``name``; unknown names and parameters raise with what is allowed."""
    if name not in FAULTS:
        raise KeyError(f"unknown fault {name!r}; known: {sorted(FAULTS)}")
    kind = FAULTS[name]
    allowed = {f.name for f in fields(kind.params)}
    unexpected = sorted(set(params) - allowed)
    if unexpected:
        raise TypeError(f"{name}: unknown parameters {unexpected}; allowed: {sorted(allowed)}")
    return kind.factory(kind.params(**params))


def fault_to_json(fault: Fault) -> dict[str, Any]:
    return {"fault": fault.name, "params": asdict(fault.params)}


def fault_from_json(data: Mapping[str, Any]) -> Fault:
    return make_fault(str(data["fault"]), **dict(data.get("params", {})))
