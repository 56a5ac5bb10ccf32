"""Scenario 10: a NATS partition longer than the reconnect watchdog (15 s > NATS_RECONNECT_WATCHDOG 10 s).

nats-py's own reconnect can hang on a dead transport (nats.py #671), so the server's watchdog
replaces the client with a fresh connection. Here the watchdog certainly fires during the
partition (the 10 s scenario races it): after the heal, chat must flow again over the fresh
connection, with the JetStream consumer rebound on it, and the DLQ must replay.
"""

from harness.schedule import FaultWindow, Schedule
from scenarios.base import noop_test

SCENARIO = noop_test(
    name="nats_partition_watchdog",
    evidence="scenarios/nats_partition_watchdog.py",
    schedule=Schedule(duration_s=26.0, settle_s=5.0, windows=(
        FaultWindow("partition", at_s=5.0, duration_s=15.0, params={"link": "nats-0"}),)),
)
