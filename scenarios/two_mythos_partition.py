"""Scenario 8: two game servers, one cut off from NATS for 10 s, players on both in one room."""

from harness.schedule import FaultWindow, Schedule
from harness.topology import TopologySpec
from scenarios.base import noop_test

SCENARIO = noop_test(
    name="two_mythos_partition",
    evidence="scenarios/two_mythos_partition.py",
    topology=TopologySpec(mythos=2),
    players=(0, 0, 1, 1),
    schedule=Schedule(duration_s=22.0, settle_s=5.0, windows=(
        FaultWindow("partition", at_s=5.0, duration_s=10.0, params={"link": "nats-1"}),)),
)
