"""Scenario 3: the NATS link squeezed to 1 KB/s."""

from harness.schedule import FaultWindow, Schedule
from scenarios.base import noop_test

SCENARIO = noop_test(
    name="nats_bandwidth",
    evidence="scenarios/nats_bandwidth.py",
    schedule=Schedule(duration_s=20.0, settle_s=8.0, windows=(
        FaultWindow("bandwidth", at_s=4.0, duration_s=10.0, params={"link": "nats-0", "rate_kb_s": 1}),)),
)
