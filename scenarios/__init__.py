"""Chaos scenarios: one module per scenario, each a ChaosTest built from ``scenarios.base.noop_test``."""

__all__ = ["CLUSTER", "FAST"]

FAST: tuple[str, ...] = ("nats_partition", "nats_blackhole", "nats_kill")
"""The subset the default test command runs (marker ``chaos_fast``); ``make verify`` runs them all."""

CLUSTER: tuple[str, ...] = ("nats_node_kill", "nats_node_partition", "nats_rolling_restart")
"""Scenarios on a 3-node NATS cluster (marker ``chaos_cluster``, suite file ``cluster``): run by
name (``harness chaos nats_node_kill``), never by ``harness chaos`` alone nor by ``-m chaos``."""
