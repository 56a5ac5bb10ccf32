"""Scenario 2: 500 ms +- 200 ms of latency on the NATS link (server to mythos)."""

from harness.schedule import FaultWindow, Schedule
from scenarios.base import noop_test

SCENARIO = noop_test(
    name="nats_latency",
    evidence="scenarios/nats_latency.py",
    schedule=Schedule(duration_s=20.0, settle_s=5.0, windows=(
        FaultWindow("latency", at_s=4.0, duration_s=10.0,
                    params={"link": "nats-0", "latency_ms": 500, "jitter_ms": 200}),)),
)
