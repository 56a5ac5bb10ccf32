"""Scenario 7: the NATS link goes down for 1 s every 2 s, for 30 s."""

from harness.schedule import FaultWindow, Schedule
from scenarios.base import noop_test

SCENARIO = noop_test(
    name="nats_flapping",
    evidence="scenarios/nats_flapping.py",
    schedule=Schedule(duration_s=40.0, settle_s=5.0, windows=(
        FaultWindow("flapping", at_s=4.0, duration_s=30.0,
                    params={"link": "nats-0", "period_s": 2.0, "down_s": 1.0}),)),
)
