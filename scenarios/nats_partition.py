"""Scenario 1: NATS unreachable from the game server for 10 s while players chat in one room."""

from harness.schedule import FaultWindow, Schedule
from scenarios.base import noop_test

SCENARIO = noop_test(
    name="nats_partition",
    evidence="scenarios/nats_partition.py",
    schedule=Schedule(duration_s=22.0, settle_s=5.0, windows=(
        FaultWindow("partition", at_s=5.0, duration_s=10.0, params={"link": "nats-0"}),)),
)
