"""Cluster scenario 4: the three game servers are restarted one at a time while players chat.

Each step stops one game server gracefully (SIGTERM), keeps it down 3 s and starts it again; the
steady state must hold again before the next one goes down, as an operator's rolling restart
would wait. Players know every server (``failover``): a player whose server went away reconnects
to the next one that takes it, keeping its session id, so the session registry moves its session
there (ADR-006). Its home server is tried first, so players drift home as the restart rolls on.
The checkers hold the run to the usual guarantees: no acknowledged line lost or duplicated, the
DLQ accounted, and a reconnected player hears every line said after its reconnect.
"""

from harness.schedule import FaultWindow, Schedule
from harness.topology import TopologySpec
from scenarios.base import noop_test

SCENARIO = noop_test(
    name="mythos_rolling_restart",
    evidence="scenarios/mythos_rolling_restart.py",
    topology=TopologySpec(mythos=3, nats_cluster=3, db="postgres"),
    players=(0, 1, 2, 0, 1, 2),
    failover=True,
    schedule=Schedule(duration_s=36.0, settle_s=5.0, windows=tuple(
        FaultWindow("stop_service", at_s=4.0 + 10.0 * i, duration_s=3.0, params={"service": f"mythos-{i}"})
        for i in range(3))),
)
