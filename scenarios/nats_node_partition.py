"""Cluster scenario 2: one NATS node is cut off from its two peers for 15 s while players on three
game servers chat.

Every route proxy to and from ``nats-1`` is disabled: its routes drop and cannot come back until
the heal. The game server homed on it (mythos-1) keeps its client connection to it, so it is
the one cut off, from the stream's majority: its publishes get no stream acknowledgement and its
consumer sees nothing new until the heal (its lines go to its DLQ, and it catches up from the
stream afterwards). The other two game servers keep chatting through the majority. Whether
``nats-1`` also led the stream or the meta group is up to the cluster on the day; the history's
/metrics samples and the nodes' logs say.
"""

from harness.schedule import FaultWindow, Schedule
from harness.topology import TopologySpec
from scenarios.base import noop_test

SCENARIO = noop_test(
    name="nats_node_partition",
    evidence="scenarios/nats_node_partition.py",
    topology=TopologySpec(mythos=3, nats_cluster=3, db="postgres"),
    players=(0, 1, 2, 0, 1, 2),
    schedule=Schedule(duration_s=32.0, settle_s=5.0, recovery_timeout_s=20.0, windows=(
        FaultWindow("partition_nats_node", at_s=5.0, duration_s=15.0, params={"node": "nats-1"}),)),
)
