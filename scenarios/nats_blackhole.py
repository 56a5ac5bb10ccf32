"""Scenario 4: the NATS link silently swallows data both ways; only pings can notice."""

from harness.schedule import FaultWindow, Schedule
from scenarios.base import noop_test

SCENARIO = noop_test(
    name="nats_blackhole",
    evidence="scenarios/nats_blackhole.py",
    schedule=Schedule(duration_s=20.0, settle_s=5.0, windows=(
        FaultWindow("blackhole", at_s=4.0, duration_s=8.0, params={"link": "nats-0"}),)),
)
