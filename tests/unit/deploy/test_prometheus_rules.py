"""The shipped Prometheus rules pass promtool, each alert has its tests and its runbook section.

``promtool check rules`` and ``promtool test rules`` run for real (Debian's prometheus package,
installed by scripts/setup.sh); a missing promtool fails these tests, never skips them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.required_tools import require_promtool
from harness.services.prometheus import duration_s, shorten_rules

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
RULE_TESTS = sorted((ROOT / "deploy" / "prometheus" / "tests").glob("*.yml"))
METRICS_DOC = ROOT / "docs" / "metrics.md"
PROMTOOL_TIMEOUT_S = 60


def _promtool(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(require_promtool()), *map(str, args)], capture_output=True, text=True,
                          timeout=PROMTOOL_TIMEOUT_S, cwd=cwd, check=False)


def _alerts(rules: Path = RULES) -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(rules.read_text(encoding="utf-8"))
    return {rule["alert"]: rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule}


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#{1,6} (.+)$", markdown, flags=re.MULTILINE)}


def test_the_rules_pass_promtool_check() -> None:
    result = _promtool("check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_rule_unit_test_passes() -> None:
    assert RULE_TESTS, "no promtool rule tests under deploy/prometheus/tests"
    result = _promtool("test", "rules", *RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_rule_that_waits_too_long_fails_its_unit_test(tmp_path: Path) -> None:
    """The rule tests can fail: the link alert waiting 5 minutes instead of 30 s misses its firing case."""
    (tmp_path / "tests").mkdir()
    broken = RULES.read_text(encoding="utf-8").replace(
        'expr: mythos_nats_connection_state{state="connected"} == 0\n        for: 30s',
        'expr: mythos_nats_connection_state{state="connected"} == 0\n        for: 5m')
    assert broken != RULES.read_text(encoding="utf-8")
    (tmp_path / "rules.yml").write_text(broken, encoding="utf-8")
    for test_file in RULE_TESTS:
        shutil.copy(test_file, tmp_path / "tests" / test_file.name)
    result = _promtool("test", "rules", *sorted((tmp_path / "tests").glob("*.yml")), cwd=tmp_path)
    assert result.returncode != 0
    assert "MythosNatsLinkDown" in result.stdout + result.stderr


def test_a_broken_expression_fails_promtool_check(tmp_path: Path) -> None:
    broken = tmp_path / "rules.yml"
    broken.write_text(RULES.read_text(encoding="utf-8").replace("delta(mythos_nats_dlq_depth[2m])",
                                                                "delta(mythos_nats_dlq_depth[2m]"), encoding="utf-8")
    assert _promtool("check", "rules", broken).returncode != 0


def test_every_alert_has_a_firing_and_a_non_firing_case() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in doc.get("tests", []):
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = set(_alerts())
    assert alerts, "no alerts in the rules"
    assert alerts - firing == set(), f"alerts without a case where they fire: {sorted(alerts - firing)}"
    assert alerts - quiet == set(), f"alerts without a case where they stay quiet: {sorted(alerts - quiet)}"
    assert (firing | quiet) - alerts == set(), f"tests of alerts that do not exist: {sorted((firing | quiet) - alerts)}"


def test_every_alert_says_what_happened_what_to_do_and_links_its_runbook_section() -> None:
    anchors = _anchors(METRICS_DOC.read_text(encoding="utf-8"))
    problems = []
    for name, rule in _alerts().items():
        annotations = rule.get("annotations", {})
        if not annotations.get("summary") or len(annotations.get("description", "")) < 40:
            problems.append(f"{name}: summary and a description of what to do are required")
        url = str(annotations.get("runbook_url", ""))
        path, _, anchor = url.partition("#")
        if path != "docs/metrics.md" or anchor not in anchors:
            problems.append(f"{name}: runbook_url {url!r} is not a section of docs/metrics.md")
        if anchor != name.lower():
            problems.append(f"{name}: its runbook section should be headed by the alert's name")
        if rule.get("labels", {}).get("severity") not in ("page", "warning"):
            problems.append(f"{name}: severity must be page or warning")
    assert not problems, "\n".join(problems)


def test_the_anchor_check_refuses_a_missing_section() -> None:
    assert "mythosnatslinkdown" in _anchors("## Runbook\n\n### MythosNatsLinkDown\n")
    assert "mythosnatslinkdown" not in _anchors("## Runbook\n\nMythosNatsLinkDown is an alert.\n")


def test_the_chaos_copy_only_shortens_waits() -> None:
    """The chaos suite's copy: every for: at most 2 s, every range at most 10 s, nothing else changed."""
    shipped = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    short = yaml.safe_load(shorten_rules(RULES.read_text(encoding="utf-8"), for_s=2, range_s=10))
    for group, short_group in zip(shipped["groups"], short["groups"], strict=True):
        for rule, short_rule in zip(group["rules"], short_group["rules"], strict=True):
            assert {k: v for k, v in rule.items() if k not in ("expr", "for")} == \
                   {k: v for k, v in short_rule.items() if k not in ("expr", "for")}
            if "for" in rule:
                assert duration_s(short_rule["for"]) == min(duration_s(rule["for"]), 2.0)
            ranges = re.findall(r"\[(\w+)\]", short_rule["expr"])
            assert all(duration_s(r) <= 10 for r in ranges), short_rule["expr"]
            assert re.sub(r"\[\w+\]", "[]", rule["expr"]) == re.sub(r"\[\w+\]", "[]", short_rule["expr"])


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("10m", 600), ("1m30s", 90), ("500ms", 0.5)])
def test_durations(text: str, seconds: float) -> None:
    assert duration_s(text) == seconds


def test_a_shortened_copy_passes_promtool_check(tmp_path: Path) -> None:
    short = tmp_path / "rules.yml"
    short.write_text(shorten_rules(RULES.read_text(encoding="utf-8")), encoding="utf-8")
    result = _promtool("check", "rules", short)
    assert result.returncode == 0, result.stdout + result.stderr
