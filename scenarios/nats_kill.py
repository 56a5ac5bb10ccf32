"""Scenario 6: nats-server is SIGKILLed and restarted 5 s later on the same port and store.

This proves survival of a process crash (JetStream's file store is in the page cache), not of
a power loss.
"""

from harness.schedule import FaultWindow, Schedule
from scenarios.base import noop_test

SCENARIO = noop_test(
    name="nats_kill",
    evidence="scenarios/nats_kill.py",
    schedule=Schedule(duration_s=16.0, settle_s=5.0, windows=(
        FaultWindow("kill_nats", at_s=4.0, duration_s=5.0),)),
)
