"""The chaos test session's record: the planned scenarios, their verdicts, and other failed checks.

Kept out of ``conftest.py`` so test modules import it like any module (a conftest is not one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from harness.results import ScenarioResult, now

__all__ = ["ChaosSession"]


@dataclass
class ChaosSession:
    """What this session's scenario tests meant to run, what returned a verdict, what else failed."""

    planned: list[str]
    started: datetime = field(default_factory=now)
    results: list[ScenarioResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def record(self, result: ScenarioResult) -> ScenarioResult:
        """The scenario returned a verdict: its run counts towards the suite's KPIs."""
        self.results.append(result)
        return result

    def fail(self, check: str) -> None:
        """A check outside the checkers failed (or never finished): it vetoes the suite's KPIs."""
        if check not in self.failures:
            self.failures.append(check)

    def passed(self, check: str) -> None:
        if check in self.failures:
            self.failures.remove(check)
