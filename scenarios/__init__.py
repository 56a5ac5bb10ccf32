"""Chaos scenarios: one module per scenario, each a ChaosTest built from ``scenarios.base.noop_test``."""

__all__ = ["CLUSTER", "CLUSTER_FAST", "FAST", "ONE_WORLD"]

FAST: tuple[str, ...] = ("nats_partition", "nats_blackhole", "nats_kill")
"""The subset the default test command runs (marker ``chaos_fast``); ``make verify`` runs them all."""

ONE_WORLD: tuple[str, ...] = ("split_login", "mythos_rolling_restart", "postgres_restart")
"""Cluster scenarios of the one-world guarantees (sessions, aliases, rate budget, game server and
database restarts), with their own expectations in tests/chaos/cluster/test_one_world.py."""

CLUSTER: tuple[str, ...] = ("nats_node_kill", "nats_node_partition", "nats_rolling_restart", *ONE_WORLD)
"""Scenarios on a 3-node NATS cluster (marker ``chaos_cluster``, suite file ``cluster``): run by
name (``harness chaos nats_node_kill``), never by ``harness chaos`` alone nor by ``-m chaos``."""

CLUSTER_FAST: tuple[str, ...] = ("nats_node_kill",)
"""The cluster scenario the default test command runs (marker ``cluster_fast``): the stream
leader's SIGKILL, the failover every cluster exists for; ``make verify`` runs them all."""
