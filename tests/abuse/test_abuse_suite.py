"""The abuse suite against a real server: every attack ran, attacked for real, and the server held.

One run (``abuse_run``, see conftest.py) feeds every test here. Each KPI test fails with its
measured value and evidence; each check test fails with what the attack saw. The same checks
are in the KPI file as failures, so the gate refuses the run whatever pytest reports.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.abuse import ATTACKS, AbuseResult
from harness.abuse.kpis import ABUSE_KPIS
from harness.kpi import load_suite

pytestmark = [pytest.mark.abuse, pytest.mark.timeout(600)]


def _figures(run: AbuseResult, name: str) -> dict[str, Any]:
    attack = run.run(name)
    assert attack is not None and attack.outcome is not None, f"{name} did not run: {attack and attack.error}"
    return attack.outcome.figures


def test_every_planned_attack_ran(abuse_run: AbuseResult) -> None:
    assert abuse_run.planned == list(ATTACKS)
    errors = {r.name: r.error for r in abuse_run.runs if r.error}
    assert not errors, errors
    assert abuse_run.completed == abuse_run.planned


def test_the_attacks_really_attacked(abuse_run: AbuseResult) -> None:
    """Guards against a quiet pass: every flood sent what it says and the server saw it."""
    for name in ("oversized_lines", "invalid_command_flood", "ping_flood", "garbage_frames"):
        figures = _figures(abuse_run, name)
        assert int(figures["sent"]) >= 50, (name, figures)
    assert _figures(abuse_run, "oversized_lines")["sent_bytes"] > 1_000_000
    for name in ("login_brute_force_admin", "login_brute_force_player"):
        assert int(_figures(abuse_run, name)["guesses"]) >= 1, name
    flood = _figures(abuse_run, "login_flood")
    assert int(flood["flood_sent"]) >= 16 and int(flood["legit_logins"]) >= 1, flood
    assert int(_figures(abuse_run, "slow_sse_readers")["streams"]) >= 10
    assert int(_figures(abuse_run, "unicode_chat")["lines"]) >= 19


def test_the_kpi_file_holds_this_runs_figures(abuse_run: AbuseResult) -> None:
    assert abuse_run.kpi_path is not None
    report = load_suite(abuse_run.kpi_path)
    assert report.suite == "abuse"
    assert [k.id for k in report.kpis] == list(ABUSE_KPIS)
    assert {k.id: k.value for k in report.kpis} == {k.id: k.value for k in abuse_run.kpis}
    assert list(report.planned or ()) == abuse_run.planned
    assert list(report.completed or ()) == abuse_run.completed
    assert list(report.failures) == abuse_run.failures
    summary = json.loads(abuse_run.summary_path.read_text(encoding="utf-8"))
    assert [a["name"] for a in summary["attacks"]] == [r.name for r in abuse_run.runs]


TIMED_KPIS = ("legit_login_p99_under_login_flood_ms", "compliant_p99_under_abuse_ms")
"""Latencies: the short run (make test) records them in the KPI file and prints them; the full run
(make verify, on a machine with nothing else running) asserts them, and the release gate judges the
file either way. A short run's handful of samples on a shared two-core runner, where the attackers,
the players and the server share the cores, measures the runner more than the server."""


@pytest.mark.parametrize("kpi_id", ABUSE_KPIS)
def test_kpi_within_spec(abuse_run: AbuseResult, kpi_id: str) -> None:
    kpi = abuse_run.kpi(kpi_id)
    assert kpi.measured, f"{kpi_id} not measured: {kpi.evidence}"
    verdict = f"{kpi_id} = {kpi.value} {kpi.unit}, spec {kpi.comparator} {kpi.threshold}: {kpi.evidence}"
    if kpi_id in TIMED_KPIS and not abuse_run.full:
        print(f"recorded, judged by the gate: {verdict}")
        return
    assert kpi.passed, verdict


@pytest.mark.parametrize("name", ["login_brute_force_admin", "login_brute_force_player"])
def test_a_brute_force_does_not_lock_the_owner_out(abuse_run: AbuseResult, name: str) -> None:
    """The owner logs in from 127.0.0.1 with the right password right after the guesses stop."""
    figures = _figures(abuse_run, name)
    assert figures["owner_login"]["status"] == 200, figures


def test_the_login_flood_logs_no_one_in(abuse_run: AbuseResult) -> None:
    statuses = _figures(abuse_run, "login_flood")["flood_statuses"]
    assert not statuses.get("200"), statuses


def test_compliant_players_are_never_refused_or_dropped(abuse_run: AbuseResult) -> None:
    refused = {r.name: dict(r.compliant.refused) for r in abuse_run.runs if r.compliant.refused}
    assert not refused, refused
    dropped = [f for f in abuse_run.failures if "lost their connection" in f]
    assert not dropped, dropped


def test_slow_readers_are_let_go_when_they_leave(abuse_run: AbuseResult) -> None:
    figures = _figures(abuse_run, "slow_sse_readers")
    assert figures["released_after_s"] is not None, figures
    assert figures["chat_refused"] == 0, figures


def test_the_sender_is_told_which_character(abuse_run: AbuseResult) -> None:
    figures = _figures(abuse_run, "unicode_chat")
    assert figures["told_which"] == figures["lines"], [f for f in abuse_run.failures if "code point" in f]


def test_a_mixed_script_admin_verb_is_the_admin_verb(abuse_run: AbuseResult) -> None:
    figures = _figures(abuse_run, "unicode_chat")
    assert figures["mixed_script_verb"] == figures["plain_verb"], figures


def test_harmless_lines_are_still_delivered(abuse_run: AbuseResult) -> None:
    assert _figures(abuse_run, "unicode_chat")["false_positives_delivered"] == 2


def test_names_with_hidden_characters_cannot_register(abuse_run: AbuseResult) -> None:
    assert _figures(abuse_run, "unicode_chat")["hidden_names_registered"] == []


def test_no_other_check_failed(abuse_run: AbuseResult) -> None:
    """Whatever else the run found (each also in the KPI file's failures)."""
    assert not abuse_run.failures, "\n".join(abuse_run.failures)
