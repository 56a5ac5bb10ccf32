"""Chaos scenarios: one module per scenario, each a ChaosTest built from ``scenarios.base.noop_test``."""

__all__: list[str] = []
