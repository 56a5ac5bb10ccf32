"""What the alerts of a chaos run must show (the ``alerts`` check of harness.alerts), as problems a failure names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.results import ScenarioResult

__all__ = ["alert_summary", "alert_violations"]


def _pairs(rows: Any) -> list[str]:
    return [f"{row['alert']}@{row['server']}" for row in rows or ()]


def alert_violations(result: ScenarioResult) -> list[str]:
    """Expected alerts that did not fire, alerts that should not have, and alerts still firing at the end."""
    check = result.checks.get("alerts")
    if not isinstance(check, Mapping):
        return ["alerts: not judged (the alerts checker did not run)"]
    if check.get("valid") == "unknown":
        return [f"alerts: not judged ({check.get('error')})"]
    problems = []
    if check.get("missing"):
        problems.append(f"alerts that must fire did not: {_pairs(check['missing'])}")
    if check.get("unexpected"):
        problems.append(f"alerts fired that this scenario must not fire: {_pairs(check['unexpected'])}")
    if check.get("baseline") and check.get("fired"):
        problems.append(f"alerts fired in a run without faults: {_pairs(check['fired'])}")
    if check.get("unresolved"):
        problems.append(f"alerts still firing at the end of the run: {_pairs(check['unresolved'])}")
    if check.get("valid") is not True and not problems:
        problems.append(f"alerts: {check.get('valid')}")
    return problems


def alert_summary(result: ScenarioResult) -> str:
    """One line: what fired, from when to when (seconds into the run), and what had to."""
    check = result.checks.get("alerts")
    if not isinstance(check, Mapping):
        return "alerts: not judged"
    spans = [f"{s['alert']}@{s['server']} {s['start']:.1f}-" + ("open" if s["end"] is None else f"{s['end']:.1f}")
             for s in check.get("spans", []) if s.get("state") == "firing"]
    return (f"alerts: expected {_pairs(check.get('expected'))}, fired [{', '.join(spans)}], "
            f"resolved after last heal {check.get('resolved_after_last_heal_s')}")
