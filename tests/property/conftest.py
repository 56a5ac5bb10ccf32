"""Hypothesis profiles. Loaded explicitly: with CI=true Hypothesis would pick its own "ci"."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# default: quick enough for `make test`; full: the KPI counts of `make verify`.
settings.register_profile(
    "default", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False
)
settings.register_profile(
    "full", max_examples=5_000, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
