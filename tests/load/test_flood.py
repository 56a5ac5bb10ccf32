"""A short Locust flood against a real mythos and nats-server: the limiter refuses the excess, not the players.

Locust runs in its own process through ``harness.load`` (its gevent patching stays out of
pytest). Reports go to a temporary directory unless MYTHOS_LOAD_REPORTS names one (e.g.
``reports`` to keep the HTML report and the KPI file of this run).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.load import NEGATIVE_CONTROL, RATE_LIMIT, SCENARIOS, control_verdict, run_load

pytestmark = [pytest.mark.load, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def flood(tmp_path_factory: pytest.TempPathFactory):
    reports = Path(os.environ.get("MYTHOS_LOAD_REPORTS") or tmp_path_factory.mktemp("load-reports"))
    result = run_load(["flood"], short=True, reports=reports)
    run = result.run("flood")
    assert run is not None
    return result, run


def test_locust_ran_and_every_player_connected(flood) -> None:
    _, run = flood
    assert run.error is None, run.error
    assert run.connection["attempts"] == SCENARIOS["flood"].users(SCENARIOS["flood"].settings(short=True))
    assert run.connection["rate"] == 1.0, run.connection


def test_attackers_really_flooded(flood) -> None:
    """Without this the ratio below could be 'perfect' for a flood that never exceeded the limit."""
    f = flood[1].figures
    assert f["attacker_sent"] > 3 * RATE_LIMIT * f["attackers"] * 5, f
    # The server holds a flooder's socket unread after each refusal (fake lag), so much of what
    # was sent is answered late or not during the run: that is the defence. The answered part
    # still goes past what the limit lets through, and each attacker was refused.
    assert f["excess"] > 0, f
    assert f["attacker_refused"] >= f["attackers"], f


def test_limiter_refuses_the_excess(flood) -> None:
    f = flood[1].figures
    assert f["dos_blocked_ratio"] is not None and f["dos_blocked_ratio"] >= 0.95, f


def test_compliant_players_are_never_refused(flood) -> None:
    f = flood[1].figures
    assert f["compliant_commands"] > 0
    assert f["compliant_refusals"] == 0, f
    assert f["compliant_timeouts"] == 0, f
    assert f["compliant_p99_ms"] is not None


def test_kpi_file_carries_the_measured_figures(flood) -> None:
    result, run = flood
    assert result.kpi_path is not None
    assert result.planned == ("flood",) and result.completed == ("flood",) and result.failures == ()
    kpis = {k["id"]: k for k in json.loads(result.kpi_path.read_text(encoding="utf-8"))["kpis"]}
    assert kpis["dos_blocked_ratio"]["value"] == pytest.approx(run.figures["dos_blocked_ratio"])
    assert kpis["dos_blocked_ratio"]["passed"] is True
    assert kpis["compliant_refusals"]["value"] == 0 and kpis["compliant_refusals"]["passed"] is True
    assert kpis["compliant_p99_under_flood"]["value"] == run.figures["compliant_p99_ms"]
    assert run.figures["compliant_measured"] > 0
    assert kpis["connection_success_rate"]["value"] == 1.0
    assert (run.out_dir / "report.html").exists()


@pytest.mark.slow
def test_a_server_without_an_effective_limit_fails_the_kpi(tmp_path: Path) -> None:
    """Negative control: the same flood against a limit of 1000/s must score far below the spec, and the
    harness must see that (a control whose KPI passed would veto every load KPI)."""
    result = run_load([NEGATIVE_CONTROL], short=True, reports=tmp_path)
    run = result.run(NEGATIVE_CONTROL)
    assert run is not None and run.error is None, run and run.error
    assert run.figures["attacker_refused"] == 0, run.figures
    assert run.figures["dos_blocked_ratio"] is not None and run.figures["dos_blocked_ratio"] < 0.5, run.figures
    assert control_verdict(run) == (True, None)
    assert result.completed == (NEGATIVE_CONTROL,) and result.failures == ()
