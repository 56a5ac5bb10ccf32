"""Accessibility figures: what axe-core found on each page and indicator state, and the
``a11y_violations`` KPI they make.

The browser suite runs axe-core (the client's pinned devDependency) over the sign-in page and the
game page in each indicator state it can reach, and records one :class:`A11yCheck` per view. The
KPI counts the serious and critical violations (one per rule and view); the evidence names every
view and every violated rule of any impact, so the goal (none at all) is visible beside the gate.
A view the suite should have checked but did not leaves the KPI not measured, never zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.kpi import KPIResult, kpi_from_catalogue, not_measured

__all__ = ["A11Y_KPI", "GATED_IMPACTS", "REQUIRED_VIEWS", "A11yCheck", "AxeViolation", "a11y_kpi", "from_axe"]

A11Y_KPI = "a11y_violations"
GATED_IMPACTS = frozenset({"serious", "critical"})
REQUIRED_VIEWS: tuple[str, ...] = (
    "login", "register", "game/connected", "game/degraded", "game/reconnecting", "game/failed",
)
"""The sign-in page in both modes, and the game page in each indicator look (green, amber, yellow, red)."""


@dataclass(frozen=True, slots=True)
class AxeViolation:
    rule: str
    impact: str | None
    nodes: int

    @property
    def gated(self) -> bool:
        return self.impact in GATED_IMPACTS


@dataclass(frozen=True, slots=True)
class A11yCheck:
    """One axe-core run over one view (``login``, ``game/degraded``, ...)."""

    view: str
    violations: tuple[AxeViolation, ...]
    engine: str = "axe-core"

    @property
    def gated(self) -> list[AxeViolation]:
        return [v for v in self.violations if v.gated]

    def describe(self) -> str:
        if not self.violations:
            return f"{self.view}: none"
        found = ", ".join(f"{v.rule} ({v.impact or 'no impact'}, {v.nodes} nodes)" for v in self.violations)
        return f"{self.view}: {found}"


def from_axe(view: str, results: Mapping[str, object]) -> A11yCheck:
    """An :class:`A11yCheck` from the object ``axe.run`` resolves to (its ``violations`` list)."""
    raw = results.get("violations")
    if not isinstance(raw, list):
        raise ValueError(f"{view}: axe results without a violations list: {sorted(results)}")
    violations = []
    for item in raw:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            raise ValueError(f"{view}: malformed axe violation {item!r}")
        impact = item.get("impact")
        nodes = item.get("nodes")
        violations.append(AxeViolation(str(item["id"]), impact if isinstance(impact, str) else None,
                                       len(nodes) if isinstance(nodes, list) else 0))
    engine = results.get("testEngine")
    version = engine.get("version") if isinstance(engine, Mapping) else None
    return A11yCheck(view, tuple(violations), f"axe-core {version}" if version else "axe-core")


def a11y_kpi(checks: Sequence[A11yCheck], required: Iterable[str] = REQUIRED_VIEWS) -> KPIResult:
    """Serious and critical violations over every view checked; not measured if a required view is missing."""
    if not checks:
        return not_measured(A11Y_KPI, "no axe-core check ran")
    seen = {c.view for c in checks}
    missing = [view for view in required if view not in seen]
    if missing:
        return not_measured(A11Y_KPI, f"axe-core did not check {', '.join(missing)} "
                                      f"(checked: {', '.join(c.view for c in checks)})")
    gated = sum(len(c.gated) for c in checks)
    engines = sorted({c.engine for c in checks})
    return kpi_from_catalogue(
        A11Y_KPI, float(gated),
        f"e2e/test_a11y.py, {', '.join(engines)}: {gated} serious or critical over {len(checks)} views "
        f"({'; '.join(c.describe() for c in checks)})",
        sample=len(checks))
