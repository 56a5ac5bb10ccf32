"""Cluster scenario 3: the three NATS nodes are restarted one at a time while players on three
game servers chat.

Each step stops one node gracefully (SIGTERM), keeps it down 3 s and starts it again on the same
ports and store; the heal returns once the node answers and says it is healthy in the cluster
(``/healthz``: caught up with the meta group, its streams and consumers). The steady state must
hold again before the next node goes down, as an operator's rolling restart would wait. The game
server homed on the stopped node reconnects to the next node of its NATS_URL.
"""

from harness.schedule import FaultWindow, Schedule
from harness.topology import TopologySpec
from scenarios.base import noop_test

SCENARIO = noop_test(
    name="nats_rolling_restart",
    evidence="scenarios/nats_rolling_restart.py",
    topology=TopologySpec(mythos=3, nats_cluster=3, db="postgres"),
    players=(0, 1, 2, 0, 1, 2),
    schedule=Schedule(duration_s=36.0, settle_s=5.0, windows=tuple(
        FaultWindow("stop_nats_node", at_s=4.0 + 10.0 * i, duration_s=3.0, params={"service": f"nats-{i}"})
        for i in range(3))),
)
