"""Scenario 9: a game server is SIGKILLed and restarted while its players reconnect.

Players on the other server keep chatting through the crash; the crashed server's players
reconnect with their session id once it is back.
"""

from harness.schedule import FaultWindow, Schedule
from harness.topology import TopologySpec
from scenarios.base import noop_test

SCENARIO = noop_test(
    name="mythos_crash",
    evidence="scenarios/mythos_crash.py",
    topology=TopologySpec(mythos=2),
    players=(0, 0, 1),
    schedule=Schedule(duration_s=20.0, settle_s=5.0, windows=(
        FaultWindow("kill_mythos", at_s=4.0, duration_s=3.0, params={"service": "mythos-0"}),)),
)
