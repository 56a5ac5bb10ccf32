"""The cluster scenarios run for real: three nats-server nodes with routes through Toxiproxy, one
PostgreSQL, three game servers each homed on its own node, players on all three chatting.

Each run is held to every expectation of the single-node scenarios (tests.chaos.expectations:
no acknowledged line lost, no duplicates, DLQ accounted and replayed, recovery after every heal,
steady state around every fault) and to what its fault must have done:

- nats_node_kill: the node killed led the chat stream, and every game server failed over
  (``cluster_failover_s`` measured for each, within the spec);
- nats_node_partition: the cut-off node's game server felt it (lines it could not get through
  the majority were queued, not acknowledged), and everybody's chat came back after the heal;
- nats_rolling_restart: each of the three nodes was stopped and came back healthy.

``-m chaos_cluster`` selects them; nothing else does (see conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.history import NEMESIS, F, load_history
from harness.kpi import compare, spec_for
from harness.results import ScenarioResult
from scenarios import CLUSTER, ONE_WORLD
from tests.chaos.expectations import summary, violations
from tests.chaos.pool import ScenarioPool, cluster_params
from tests.chaos.session import ChaosSession

pytestmark = [pytest.mark.chaos_cluster, pytest.mark.timeout(480)]

SERVERS = {"mythos-0", "mythos-1", "mythos-2"}


def _failover(result: ScenarioResult) -> list[str]:
    """The kill was recorded and every game server's failover measured (the value is the KPI's)."""
    rows = result.checks.get("failover", {}).get("per_server") or []
    problems = []
    if {r["server"] for r in rows if r.get("failover_s") is not None} != SERVERS:
        problems.append(f"cluster_failover_s not measured for every game server: {rows}")
    if not any(r.get("killed") for r in rows):
        problems.append(f"the history does not say which node was killed: {rows}")
    return problems


def _failover_within_spec(result: ScenarioResult) -> list[str]:
    """A KPI judgement: it fails the test and the gate reads the value, but it vetoes nothing."""
    failover = result.checks.get("failover", {})
    if not failover.get("applicable"):
        return []
    value, spec = failover.get("cluster_failover_s"), spec_for("cluster_failover_s")
    if value is not None and compare(float(value), spec.comparator, spec.threshold):
        return []
    rows = failover.get("per_server") or []
    return [f"cluster_failover_s = {value}, spec {spec.comparator} {spec.threshold} "
            f"(per server {[(r['server'], r['failover_s']) for r in rows]})"]


def _partition_felt(result: ScenarioResult) -> list[str]:
    """The cut-off node's game server could not get lines through: some were queued, none lost."""
    _, ops = load_history(Path(result.history))
    window = next((op for op in ops if op.process == NEMESIS and op.f == F.START and op.type == "ok"), None)
    healed = next((op.time for op in ops if op.process == NEMESIS and op.f == F.HEAL and op.type == "ok"), None)
    if window is None or healed is None:
        return ["the partition never started or never healed"]
    node = str((window.value or {}).get("params", {}).get("node", ""))
    home = f"mythos-{node.removeprefix('nats-')}"
    players = {str(op.process) for op in ops if op.f == F.CONNECT and op.type == "ok"
               and (op.value or {}).get("server") == home}
    queued = [op for op in ops if op.f == F.SAY and op.type == "fail" and op.process in players
              and window.time <= op.time <= healed + 3.0 and (op.value or {}).get("queued")]
    print(f"{result.scenario}: {len(queued)} lines of {home}'s players queued while {node} was cut off")
    return [] if queued else [f"no line of {home} (homed on {node}) was queued: the partition cut nothing"]


def _every_node_restarted(result: ScenarioResult) -> list[str]:
    _, ops = load_history(Path(result.history))
    healed = {str((op.value or {}).get("params", {}).get("service")) for op in ops
              if op.process == NEMESIS and op.f == F.HEAL and op.type == "ok"}
    return [] if healed == {"nats-0", "nats-1", "nats-2"} else [f"nodes restarted and healthy: {sorted(healed)}"]


EXTRA: dict[str, Callable[[ScenarioResult], list[str]]] = {
    "nats_node_kill": _failover,
    "nats_node_partition": _partition_felt,
    "nats_rolling_restart": _every_node_restarted,
}


NATS_SCENARIOS = [n for n in CLUSTER if n not in ONE_WORLD]
"""The NATS cluster's scenarios; the one-world ones are tests/chaos/cluster/test_one_world.py's."""


def test_every_cluster_scenario_has_its_own_expectations() -> None:
    assert set(EXTRA) == set(NATS_SCENARIOS)


@pytest.mark.parametrize("name", cluster_params(NATS_SCENARIOS))
def test_cluster_scenario_holds_the_chaos_kpis(name: str, request: pytest.FixtureRequest, chaos_pool: ScenarioPool,
                                               chaos_session: ChaosSession) -> None:
    check = f"{name}: what its fault must have done"
    chaos_session.fail(check)  # until shown otherwise: a run that raises must not pass it
    result = chaos_session.record(chaos_pool.result(request.node))
    assert result.scenario == name
    extra = EXTRA[name](result)
    failover = result.checks.get("failover", {})
    print(f"{summary(result)}; failover {failover.get('per_server')}")
    if not extra:
        chaos_session.passed(check)
    problems = [*violations(result), *extra, *_failover_within_spec(result)]
    assert not problems, "\n".join([summary(result), *problems])
