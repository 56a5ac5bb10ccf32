"""Hypothesis profiles, every option set, so Hypothesis's own "ci" profile never leaks in.

With CI set, Hypothesis loads its "ci" profile at import (derandomize=True, no database), and a
profile registered afterwards inherits every option it does not set. Both of ours set all of
them. HYPOTHESIS_PROFILE picks one (scripts/run_suite.sh: "default", or "full" with --full).

- derandomize=False: every run draws new examples, so repeated runs search further; a failure
  is still reproducible from its printed blob (print_blob=True) and from the database.
- database: a directory database under the repository's .hypothesis/examples. A failing
  example is saved and replayed first on the next run (the reuse phase), which is how a
  developer confirms a fix; a fresh clone starts with an empty one, so CI is not biased by old
  runs. `make clean` removes it.
- deadline=None: two shared cores make per-example timing noise, not signal; timing budgets
  live in the bench suite, and hangs are caught by pytest-timeout and the tests' own bounds.
- suppress_health_check: too_slow only (real parsing and graph checks per example); the other
  checks still fail a badly built strategy.
- phases: all of them, shrinking and explanation included, so a failure is reported minimal.

A few tests set their own example count from tests/property/budget.py (see why there).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.database import DirectoryBasedExampleDatabase

EXAMPLES_DB = Path(__file__).resolve().parents[2] / ".hypothesis" / "examples"
PROFILE_ENV = "HYPOTHESIS_PROFILE"

_COMMON: dict[str, Any] = {
    "backend": "hypothesis",
    "derandomize": False,
    "database": DirectoryBasedExampleDatabase(EXAMPLES_DB),
    "deadline": None,
    "print_blob": True,
    "report_multiple_bugs": True,
    "suppress_health_check": [HealthCheck.too_slow],
    "stateful_step_count": 50,
    "phases": tuple(Phase),
    "verbosity": Verbosity.normal,
}

PROFILES: dict[str, dict[str, Any]] = {
    # quick enough for `make test`
    "default": {**_COMMON, "max_examples": 200},
    # the KPI sample sizes of `make verify`: >= 5,000 configs and alias sets, >= 20,000 commands
    "full": {**_COMMON, "max_examples": 5_000},
}

for _name, _options in PROFILES.items():
    settings.register_profile(_name, **_options)
_chosen = os.environ.get(PROFILE_ENV, "default")
if _chosen not in PROFILES:
    raise pytest.UsageError(f"{PROFILE_ENV}={_chosen!r}: the property suite has the profiles {sorted(PROFILES)}")
settings.load_profile(_chosen)
