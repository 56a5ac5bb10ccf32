"""Scenario: eight players keep chatting through a 36 s partition, so one game server queues
about 500 lines, and sends them itself once NATS is back (outbox_drain_s rests on them).

Each player says a line every 0.15 s and looks every 0.5 s, under the 10 commands a second rate
limit, so every line is accepted or queued, none refused. While the link is down each line waits
for its DLQ write (fsynced, one at a time): about 17 lines a second in all on this machine, so the
partition lasts 36 s to queue about 500.
"""

from harness.schedule import FaultWindow, Schedule
from scenarios.base import noop_test

SCENARIO = noop_test(
    name="nats_outbox_drain",
    evidence="scenarios/nats_outbox_drain.py",
    players=(0,) * 8,
    schedule=Schedule(duration_s=50.0, settle_s=6.0, send_interval_s=0.15, windows=(
        FaultWindow("partition", at_s=5.0, duration_s=36.0, params={"link": "nats-0"}),)),
)
