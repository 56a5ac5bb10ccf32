"""Chaos scenarios: one module per scenario, each a ChaosTest built from ``scenarios.base.noop_test``."""

__all__ = ["FAST"]

FAST: tuple[str, ...] = ("nats_partition", "nats_blackhole", "nats_kill")
"""The subset the default test command runs (marker ``chaos_fast``); ``make verify`` runs them all."""
