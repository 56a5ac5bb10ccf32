"""Cluster scenario 5: the shared PostgreSQL is stopped for at least 5 s and started again while
players chat and walk between rooms on three game servers.

The fault window is 7 s: the steady-state check before it and the shutdown itself take their
share, and the database is down for about 5.5 s of it (PostgreSQL's log and the harness log say).

While the database is down, what needs it is refused with ``database_unavailable`` and a
``retry_after`` (the walkers' moves, counted), and chat keeps flowing on the players as last
read (the checkers: nothing acknowledged lost). After the restart nothing is half-written: each
walker's room in the database is the one the server last confirmed to it (the ``rooms``
checker reads the rows straight from PostgreSQL). The stop is PostgreSQL's fast shutdown: open
transactions are rolled back and every client connection is closed.
"""

from harness.schedule import FaultWindow, Schedule
from harness.topology import TopologySpec
from scenarios.base import noop_test

SCENARIO = noop_test(
    name="postgres_restart",
    evidence="scenarios/postgres_restart.py",
    topology=TopologySpec(mythos=3, nats_cluster=3, db="postgres"),
    players=(0, 1, 2),
    workloads=("walkers",),
    schedule=Schedule(duration_s=22.0, settle_s=5.0, windows=(
        FaultWindow("stop_service", at_s=6.0, duration_s=7.0, params={"service": "postgres"}),)),
)
