"""Example counts of the tests whose one example is worth many of another's.

The loaded profile's max_examples is what a property test gets unless it says otherwise. These
kinds say otherwise: a stateful example is a run of 50 steps, and one validator example checks
8 commands, so 1,500 examples of each of the two validator tests give 24,000 commands, above
the 20,000 the validator_bypasses KPI needs in --full (the gate checks the sample, not this).
"""

from __future__ import annotations

import os

__all__ = ["EXAMPLES", "examples"]

EXAMPLES: dict[str, dict[str, int]] = {
    "stateful": {"default": 100, "full": 400},
    "validator": {"default": 200, "full": 1_500},
}
"""kind -> profile -> examples."""


def examples(kind: str) -> int:
    """The example count of a test of this kind under HYPOTHESIS_PROFILE (conftest validates it)."""
    return EXAMPLES[kind][os.environ.get("HYPOTHESIS_PROFILE", "default")]
