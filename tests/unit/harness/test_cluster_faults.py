"""NATS cluster faults against a recording target, the nemesis recording what a fault chose,
the cluster topology's spec and link order, and which game servers a cluster fault touches.

The real cluster (Toxiproxy routes, nats-server nodes) is exercised in
tests/integration/harness/test_cluster_topology.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness.checker import affected_servers, is_nats_fault
from harness.faults.base import applied
from harness.faults.registry import make_fault
from harness.history import NEMESIS, F, History
from harness.schedule import FaultWindow, Schedule, run_nemesis
from harness.topology import TopologySpec, nats_link_names

from .test_faults import Target

SERVERS = ["mythos-0", "mythos-1", "mythos-2"]


class MovingLeaderTarget(Target):
    """The stream's leader changes between the scenario's definition and the fault's start."""

    def __init__(self) -> None:
        super().__init__()
        self.leader = "nats-0"

    def stream_leader(self, stream: str) -> str:
        return self.leader


def test_a_node_partition_disables_both_directions_of_every_route_of_that_node_only() -> None:
    target = Target()
    fault = make_fault("partition_nats_node", node="nats-1")
    fault.start(target)
    down = {proxy for proxy, enabled in target.toxiproxy.enabled.items() if not enabled}
    assert down == {"proxy-route-1-0", "proxy-route-0-1", "proxy-route-1-2", "proxy-route-2-1"}
    fault.heal(target)
    assert all(target.toxiproxy.enabled.values())
    assert "proxy-route-0-2" not in target.toxiproxy.enabled  # the other nodes' route is never touched


def test_the_leader_kill_kills_the_node_leading_at_start_and_restarts_only_that_one() -> None:
    target = MovingLeaderTarget()
    fault = make_fault("kill_nats_leader")
    target.leader = "nats-2"
    with applied(fault, target):
        assert fault.effect == {"killed": "nats-2", "stream": "MYTHOS_CHAT"}  # type: ignore[attr-defined]
        target.leader = "nats-0"  # the cluster elected another leader meanwhile
    assert target.services["nats-2"].events == ["kill", "restart"]
    assert target.services["nats-0"].events == []
    fault.heal(target)
    assert target.services["nats-2"].events == ["kill", "restart"]


def test_a_node_stop_is_graceful_and_its_heal_restarts_it_once() -> None:
    target = Target()
    fault = make_fault("stop_nats_node", service="nats-0")
    fault.heal(target)
    assert target.services["nats-0"].events == []
    fault.start(target)
    fault.heal(target)
    fault.heal(target)
    assert target.services["nats-0"].events == ["stop", "restart"]


class SingleNodeTarget:
    """A topology without a cluster: no route links, no stream leader."""

    def __init__(self) -> None:
        self.inner = Target()
        self.toxiproxy = self.inner.toxiproxy

    def proxy_name(self, link: str) -> str:
        return self.inner.proxy_name(link)

    def service(self, name: str) -> object:
        return self.inner.service(name)


@pytest.mark.parametrize("name", ["partition_nats_node", "kill_nats_leader"])
def test_cluster_faults_refuse_a_topology_without_a_cluster(name: str) -> None:
    with pytest.raises(TypeError, match="NATS cluster"):
        make_fault(name).start(SingleNodeTarget())  # type: ignore[arg-type]


def test_the_nemesis_records_which_node_the_fault_killed(tmp_path: Path) -> None:
    target = MovingLeaderTarget()
    target.leader = "nats-1"
    schedule = Schedule(duration_s=0.1, windows=(FaultWindow("kill_nats_leader", at_s=0.0, duration_s=0.05),))
    with History(tmp_path / "h.jsonl") as history:
        asyncio.run(run_nemesis(schedule, target, history))
        started = [op for op in history.ops if op.process == NEMESIS and op.f == F.START and op.type == "ok"]
    assert [op.value["effect"] for op in started] == [{"killed": "nats-1", "stream": "MYTHOS_CHAT"}]
    assert target.services["nats-1"].events == ["kill", "restart"]


def test_a_cluster_topology_lists_every_node_home_first() -> None:
    assert nats_link_names(0, 3) == ["nats-0", "nats-0-to-1", "nats-0-to-2"]
    assert nats_link_names(2, 3) == ["nats-2", "nats-2-to-0", "nats-2-to-1"]
    assert nats_link_names(4, 3) == ["nats-4", "nats-4-to-2", "nats-4-to-0"]  # more servers than nodes
    assert nats_link_names(1, 1) == ["nats-1"]


@pytest.mark.parametrize("spec", [
    {"nats_cluster": 0}, {"nats_cluster": 6}, {"db": "mysql"},
    {"nats_cluster": 3, "containers": True}, {"nats_cluster": 3, "jetstream": False},
])
def test_impossible_topologies_are_refused(spec: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        TopologySpec(**spec)  # type: ignore[arg-type]


def test_the_single_node_sqlite_topology_stays_the_default() -> None:
    spec = TopologySpec()
    assert (spec.nats_cluster, spec.db) == (1, "sqlite")


@pytest.mark.parametrize(("window", "expected"), [
    ({"fault": "kill_nats_leader", "params": {"stream": "MYTHOS_CHAT"}}, SERVERS),
    ({"fault": "partition_nats_node", "params": {"node": "nats-1"}}, SERVERS),
    ({"fault": "stop_nats_node", "params": {"service": "nats-2"}}, SERVERS),
    ({"fault": "kill_nats", "params": {"service": "nats-0"}}, SERVERS),
    ({"fault": "partition", "params": {"link": "nats-2-to-0"}}, ["mythos-2"]),
    ({"fault": "partition", "params": {"link": "nats-1"}}, ["mythos-1"]),
    ({"fault": "kill_mythos", "params": {"service": "mythos-1"}}, []),
])
def test_cluster_faults_touch_every_game_server_and_count_as_nats_faults(
        window: dict[str, object], expected: list[str]) -> None:
    assert affected_servers(window, SERVERS) == expected
    assert is_nats_fault(window) is bool(expected)
