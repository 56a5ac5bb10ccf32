"""The a11y_violations KPI from axe-core results: counts serious and critical only, names every
view and rule, and is not measured (never zero) when a view went unchecked."""

from __future__ import annotations

from typing import Any

import pytest

from harness.a11y import A11Y_KPI, REQUIRED_VIEWS, A11yCheck, a11y_kpi, from_axe


def axe_result(*violations: tuple[str, str | None, int], version: str = "4.14.1") -> dict[str, Any]:
    """The shape ``axe.run`` resolves to, cut to what the KPI reads."""
    return {
        "testEngine": {"name": "axe-core", "version": version},
        "violations": [{"id": rule, "impact": impact, "nodes": [{"target": [f"#n{i}"]} for i in range(nodes)]}
                       for rule, impact, nodes in violations],
    }


def every_view(**found: dict[str, Any]) -> list[A11yCheck]:
    return [from_axe(view, found.get(view.replace("/", "_"), axe_result())) for view in REQUIRED_VIEWS]


def test_axe_results_are_read_rule_by_rule() -> None:
    check = from_axe("login", axe_result(("color-contrast", "serious", 3), ("region", "moderate", 1),
                                         ("odd-rule", None, 0)))
    assert [(v.rule, v.impact, v.nodes) for v in check.violations] == [
        ("color-contrast", "serious", 3), ("region", "moderate", 1), ("odd-rule", None, 0)]
    assert [v.rule for v in check.gated] == ["color-contrast"]
    assert check.engine == "axe-core 4.14.1"
    assert check.describe() == ("login: color-contrast (serious, 3 nodes), region (moderate, 1 nodes), "
                                "odd-rule (no impact, 0 nodes)")


def test_clean_views_pass_with_every_view_named() -> None:
    kpi = a11y_kpi(every_view())
    assert kpi.id == A11Y_KPI and kpi.value == 0.0 and kpi.passed
    assert kpi.sample == len(REQUIRED_VIEWS)
    for view in REQUIRED_VIEWS:
        assert f"{view}: none" in kpi.evidence


def test_moderate_findings_are_named_but_not_counted() -> None:
    kpi = a11y_kpi(every_view(game_connected=axe_result(("region", "moderate", 1), ("list", "minor", 2))))
    assert kpi.value == 0.0 and kpi.passed
    assert "game/connected: region (moderate, 1 nodes), list (minor, 2 nodes)" in kpi.evidence


def test_a_serious_or_critical_violation_fails_the_kpi() -> None:
    """The known-bad input: one serious and one critical rule in two views make 2."""
    kpi = a11y_kpi(every_view(game_degraded=axe_result(("color-contrast", "serious", 1)),
                              login=axe_result(("label", "critical", 2), ("region", "moderate", 1))))
    assert kpi.value == 2.0 and kpi.measured and not kpi.passed
    assert "game/degraded: color-contrast (serious" in kpi.evidence and "login: label (critical" in kpi.evidence


def test_an_unchecked_view_leaves_the_kpi_not_measured() -> None:
    assert not a11y_kpi([]).measured
    partial = [c for c in every_view() if c.view != "game/failed"]
    kpi = a11y_kpi(partial)
    assert kpi.value is None and not kpi.passed
    assert "game/failed" in kpi.evidence


@pytest.mark.parametrize("bad", [{}, {"violations": None}, {"violations": [{"impact": "serious"}]},
                                 {"violations": ["color-contrast"]}])
def test_malformed_results_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        from_axe("login", bad)
