"""Scenario 1: NATS unreachable from the game server for 10 s while players chat in one room.

The game server keeps queued chat for 6 s here (CHAT_OUTBOX_MAX_AGE, 120 s by default), so one
heal shows both sides of the outbox: lines said in the partition's last seconds are sent by the
server itself after the heal, older ones stay in the DLQ for the admin replay.
"""

from dataclasses import replace

from harness.schedule import FaultWindow, Schedule
from harness.topology import FAST_DETECTION_ENV, TopologySpec
from scenarios.base import noop_test

OUTBOX_MAX_AGE_S = 6.0

SCENARIO = noop_test(
    name="nats_partition",
    evidence="scenarios/nats_partition.py",
    topology=replace(TopologySpec(),
                     mythos_env={**FAST_DETECTION_ENV, "CHAT_OUTBOX_MAX_AGE": f"{OUTBOX_MAX_AGE_S:g}"}),
    schedule=Schedule(duration_s=22.0, settle_s=5.0, windows=(
        FaultWindow("partition", at_s=5.0, duration_s=10.0, params={"link": "nats-0"}),)),
)
