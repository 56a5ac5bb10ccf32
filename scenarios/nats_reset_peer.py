"""Scenario 5: every connection on the NATS link is reset (TCP RST) for 5 s."""

from harness.schedule import FaultWindow, Schedule
from scenarios.base import noop_test

SCENARIO = noop_test(
    name="nats_reset_peer",
    evidence="scenarios/nats_reset_peer.py",
    schedule=Schedule(duration_s=16.0, settle_s=5.0, windows=(
        FaultWindow("reset_peer", at_s=4.0, duration_s=5.0,
                    params={"link": "nats-0", "stream": "both", "timeout_ms": 0}),)),
)
