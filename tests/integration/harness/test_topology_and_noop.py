"""The whole topology with a real mythos, and the fault-free baseline scenario end to end."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from harness.faults.base import applied
from harness.faults.registry import make_fault
from harness.history import load_history
from harness.paths import RunPaths
from harness.required_tools import require_toxiproxy
from harness.results import ScenarioResult
from harness.schedule import FaultWindow, Schedule
from harness.topology import Topology, TopologySpec
from scenarios.base import noop_test, run_scenario

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(autouse=True)
def _needs_toxiproxy() -> None:
    """A missing toxiproxy-server fails these tests with how to install it (never a skip)."""
    require_toxiproxy()


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_topology_wires_every_link_and_stops_every_process(tmp_path: Path) -> None:
    with Topology(TopologySpec(mythos=1), RunPaths.new("topo", tmp_path)) as topology:
        described = topology.describe()
        assert set(described["links"]) == {"nats-0", "client-0"}
        assert described["links"]["nats-0"]["upstream"].endswith(f":{topology.nats.port}")  # type: ignore[union-attr]
        health = httpx.get(f"{topology.client_url(0)}/api/health", timeout=5).json()
        assert health["nats"] == "ok"
        pids = [topology.nats.pid, topology.toxi.process.pid, topology.mythos[0].process.pid]  # type: ignore[union-attr]
        assert all(_alive(pid) for pid in pids)
    assert not any(_alive(pid) for pid in pids)
    assert (topology.paths.log_dir / "mythos-0.log").exists()


@pytest.mark.slow  # a long real outage: make verify only; make test keeps the shorter ones
def test_kill_mythos_restarts_on_the_same_port_with_the_same_accounts(tmp_path: Path) -> None:
    with Topology(TopologySpec(mythos=1), RunPaths.new("kill", tmp_path)) as topology:
        server = topology.mythos[0]
        base = topology.client_url(0)
        account = {"username": "alice", "password": "correct horse battery",
                   "invite_code": server.take_invite()}
        assert httpx.post(f"{base}/auth/register", json=account, timeout=5).status_code in (200, 201)
        old_pid, port = server.process.pid, server.port
        with applied(make_fault("kill_mythos", service="mythos-0"), topology):
            assert not _alive(old_pid)
            with pytest.raises(httpx.TransportError):
                httpx.get(f"{base}/api/health", timeout=2)
        assert server.process.pid != old_pid and server.port == port
        login = httpx.post(f"{base}/auth/login", timeout=5,
                           json={"username": "alice", "password": account["password"]})
        assert login.status_code == 200  # same SQLite file after the crash


@pytest.mark.slow  # a long real outage: make verify only; make test keeps the shorter ones
def test_noop_scenario_with_one_partition_is_recorded_checked_and_saved(tmp_path: Path) -> None:
    test = noop_test(name="noop_smoke", schedule=Schedule(
        duration_s=6.0, settle_s=2.0,
        windows=(FaultWindow("partition", at_s=1.0, duration_s=2.0, params={"link": "nats-0"}),)))
    result = run_scenario(test, reports=tmp_path)
    saved = ScenarioResult.load(next((tmp_path / "runs").glob("*/results.json")))
    assert saved.checks == result.checks
    meta, ops = load_history(Path(result.history))
    assert meta.test["name"] == "noop_smoke"
    assert {op.f for op in ops} >= {"connect", "say", "recv", "start", "heal", "drain", "steady", "probe"}
    assert result.check("recovery", "unhealed") == []
    assert result.check("delivery", "acknowledged") > 0
    assert result.check("steady_state", "valid") is not False, result.checks["steady_state"]
