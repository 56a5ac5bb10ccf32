"""The optional container path: refused cleanly without Docker, exercised only when an engine answers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from harness import topology as topology_module
from harness.paths import RunPaths
from harness.services.containers import docker_engine_answers
from harness.topology import Topology, TopologySpec

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_containers_without_a_docker_engine_are_refused_by_name(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topology_module, "docker_engine_answers", lambda: False)
    with pytest.raises(RuntimeError, match="no Docker engine"):
        Topology(TopologySpec(mythos=0, containers=True), RunPaths.new("containers", tmp_path)).start()


def test_docker_probe_never_raises() -> None:
    assert docker_engine_answers(timeout=1.0) in (True, False)


@pytest.mark.skipif(not docker_engine_answers(), reason="no Docker engine answers on this machine")
def test_container_topology_serves_chat_through_toxiproxy(tmp_path: Path) -> None:
    with Topology(TopologySpec(mythos=1, containers=True), RunPaths.new("containers", tmp_path)) as topology:
        health = httpx.get(f"{topology.client_url(0)}/api/health", timeout=5).json()
        assert health["nats"] == "ok"
