"""The cluster topology for real: three nats-server nodes whose routes pass through Toxiproxy, one
PostgreSQL, two game servers each homed on its own node, and a node cut off from its peers."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from harness.faults.base import applied
from harness.faults.registry import make_fault
from harness.paths import RunPaths
from harness.required_tools import require_toxiproxy
from harness.services.nats_cluster import NatsNode
from harness.topology import Topology, TopologySpec

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

WAIT_S = 30.0


@pytest.fixture(autouse=True)
def _needs_toxiproxy() -> None:
    require_toxiproxy()


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def routes(node: NatsNode) -> list[dict[str, object]]:
    return list(node.monitor("/routez").get("routes") or [])


def wait_for(predicate: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {WAIT_S} s")


def test_a_cluster_topology_is_one_world_whose_routes_can_be_cut(tmp_path: Path) -> None:
    spec = TopologySpec(mythos=2, nats_cluster=3, db="postgres")
    with Topology(spec, RunPaths.new("cluster", tmp_path)) as topology:
        cluster = topology.cluster
        assert cluster is not None and topology.postgres is not None
        nodes = cluster.nodes
        cluster_ports = {node.ports.cluster for node in nodes}

        # Every node routes to both peers, and no route dialled a peer's cluster port itself (a
        # direct route shows that port as its remote end on the node that dialled it).
        for node in nodes:
            assert {r.get("remote_name") for r in routes(node)} == {n.name for n in nodes} - {node.name}
            remote_ports = {int(str(r["port"])) for r in routes(node)}
            assert not remote_ports & cluster_ports, (node.name, remote_ports, cluster_ports)

        # Each game server is homed on its own node, lists the others after it, and shares the world.
        for index, server in enumerate(topology.mythos):
            env = server.process.env or {}
            assert env["NATS_URL"].split(",")[0] == f"nats://127.0.0.1:{topology.links[f'nats-{index}'].port}"
            assert len(env["NATS_URL"].split(",")) == 3
            assert (env["NATS_DONT_RANDOMIZE"], env["NATS_STREAM_REPLICAS"]) == ("true", "3")
            assert (env["CLUSTER_SESSIONS"], env["DATABASE_URL"]) == ("true", topology.postgres.url)
            home = nodes[index].monitor("/connz").get("connections") or []
            assert any(str(c.get("name", "")).endswith(f"-{server.port}") for c in home), (index, home)
        assert topology.mythos[0].admin_password == topology.mythos[1].admin_password

        account = {"username": "keeper", "password": "correct horse battery",
                   "invite_code": topology.mythos[0].take_invite()}
        assert httpx.post(f"{topology.client_url(0)}/auth/register", json=account, timeout=10).status_code in (
            200, 201)
        login = httpx.post(f"{topology.client_url(1)}/auth/login", timeout=10,
                           json={"username": "keeper", "password": "correct horse battery"})
        assert login.status_code == 200, login.text  # registered on one server, known on the other

        assert topology.service("nats-1") is nodes[1]
        assert topology.service("postgres") is topology.postgres
        described = topology.describe()
        assert [n["name"] for n in described["nats_cluster"]["nodes"]] == ["nats-0", "nats-1", "nats-2"]
        assert described["postgres"]["url"] == topology.postgres.url

        with applied(make_fault("partition_nats_node", node="nats-1"), topology):
            wait_for(lambda: not routes(nodes[1]), "nats-1 losing every route")
            assert all(r.get("remote_name") != "nats-1" for node in (nodes[0], nodes[2]) for r in routes(node))
            assert {r.get("remote_name") for r in routes(nodes[0])} == {"nats-2"}
        wait_for(lambda: {r.get("remote_name") for r in routes(nodes[1])} == {"nats-0", "nats-2"},
                 "nats-1's routes coming back")
        wait_for(cluster.ready, "the cluster agreeing on a meta leader again")
        pids = [n.pid for n in nodes] + [topology.postgres.pid] + [m.process.pid for m in topology.mythos]
        assert all(_alive(pid) for pid in pids)
    assert not any(_alive(pid) for pid in pids)
