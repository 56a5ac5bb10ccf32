"""Cluster scenario 6: one player logs in on two game servers at once, 100 times over, while players
on three servers chat; with it, the other one-world guarantees that need no fault.

Three game servers share one PostgreSQL and a 3-node NATS cluster (CLUSTER_SESSIONS on). The
workloads (harness.cluster) run one after another beside the chat:

- ``split_login``: 100 races, both WebSockets of one player opened at once on two servers (every
  ordered pair in turn); exactly one session must be live once the round settled
  (``double_sessions``), the loser evicted (``session_evicted`` / 4409) or refused;
- ``sequential_eviction``: 18 logins on B while the session on A is live: A is evicted, B stays
  (``cross_server_eviction_s`` is the p95 over both kinds of round);
- ``alias_propagation``: 40 alias definitions and removals on one server, each used on the next
  (``alias_propagation_ms``);
- ``rate_switch``: a flood of ``look`` that logs in on the next server mid-flood, twice: the
  commands run in any window stay within the one budget set here (10 per 1 s), not one per server.

No fault: the race is the stress. They share one topology because starting three servers, three
NATS nodes and PostgreSQL costs about 20 s of the suite's minutes.
"""

from harness.schedule import Schedule
from harness.topology import FAST_DETECTION_ENV, TopologySpec
from scenarios.base import noop_test

RATE_ENV = {"RATE_LIMIT_MAX_COMMANDS": "10", "RATE_LIMIT_WINDOW_SECONDS": "1"}
"""The budget the flood is judged against, stated here rather than assumed from the defaults."""

SCENARIO = noop_test(
    name="split_login",
    evidence="scenarios/split_login.py",
    topology=TopologySpec(mythos=3, nats_cluster=3, db="postgres", mythos_env={**FAST_DETECTION_ENV, **RATE_ENV}),
    players=(0, 1, 2),
    workloads=("split_login", "sequential_eviction", "alias_propagation", "rate_switch"),
    schedule=Schedule(duration_s=48.0, settle_s=3.0),
)
