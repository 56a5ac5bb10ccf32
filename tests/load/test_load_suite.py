"""What a load run writes to reports/kpi/load.json, from crafted Locust output (no server, no Locust).

Each test lays out the files a Locust run leaves (``players.jsonl``, ``locust.json``), reads
them back with the runner's own ``analyse`` and writes the suite file the gate reads.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.load import NEGATIVE_CONTROL, SCENARIOS, LoadResult, ScenarioRun, control_verdict, failed, outcome
from harness.load.results import write_load_suite
from harness.load.runner import analyse
from harness.verdict import judge

pytestmark = pytest.mark.unit

LOAD_KPIS = ("dos_blocked_ratio", "compliant_refusals", "compliant_p99_under_flood", "connection_success_rate")
SETTINGS = {"rate_limit": 10, "rate_window_s": 1.0, "alias_size": 10}


SHARED_WITH_E2E = {"connection_success_rate"}
"""Measured by load and e2e: the gate leaves it not measured until both suites report it."""


def _refused_everything(role: str, sent: int) -> dict[str, Any]:
    return {"role": role, "connect_ok": True, "connect_error": "", "sent": sent, "executed": 0,
            "refused": {"rate_limited": sent}, "timeouts": 0, "reply_span_s": 10.0, "max_executed_in_window": 0}


def _healthy_player() -> dict[str, Any]:
    return {"role": "player", "connect_ok": True, "connect_error": "", "sent": 20, "executed": 20, "refused": {},
            "timeouts": 0, "reply_span_s": 10.0, "max_executed_in_window": 2, "latency_ms": {"4": 19, "30": 1}}


def _healthy_attacker() -> dict[str, Any]:
    return {"role": "attacker", "connect_ok": True, "connect_error": "", "sent": 500, "executed": 100,
            "refused": {"rate_limited": 400}, "timeouts": 0, "reply_span_s": 10.0, "max_executed_in_window": 10}


def _flood_run(tmp_path: Path, records: list[dict[str, Any]], stats: list[dict[str, Any]],
               name: str = "flood") -> ScenarioRun:
    out = tmp_path / name
    out.mkdir()
    (out / "players.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    (out / "locust.json").write_text(json.dumps(stats), encoding="utf-8")
    run = ScenarioRun(name, out, returncode=0)
    run.figures, run.connection = analyse(SCENARIOS[name], out, SETTINGS)
    return run


def _written(tmp_path: Path, runs: list[ScenarioRun], planned: list[str]) -> dict[str, Any]:
    """The file as written, plus ``passing``: the load KPIs the release gate's own judgement lets pass
    (its missing-scenario and failure vetoes applied)."""
    path, _, _ = write_load_suite(runs, planned, started=datetime.now(UTC), out_dir=tmp_path / "kpi")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    merged = judge(tmp_path, allow_stale=True).merged
    data["passing"] = {k for k, entry in merged.items() if entry.suite == "load" and entry.result.passed}
    return data


def test_a_server_that_refuses_everyone_fails_the_load_suite(tmp_path: Path) -> None:
    """Every command refused: every excess command is 'blocked', and the refusals answer in 2 ms.

    Locust's stats are laid out as a locustfile that reports refusals under the plain ``player``
    type would leave them: a p99 from that histogram would read 2 ms.
    """
    records = [_refused_everything("attacker", 500) for _ in range(4)]
    records += [_refused_everything("player", 20) for _ in range(6)]
    stats = [{"method": "player", "name": "look", "num_requests": 120, "num_failures": 120,
              "response_times": {"2": 120}},
             {"method": "attacker", "name": "look", "num_requests": 2000, "num_failures": 2000,
              "response_times": {"1": 2000}}]
    run = _flood_run(tmp_path, records, stats)
    assert run.figures["dos_blocked_ratio"] == 1.0  # the ratio alone would pass this server

    data = _written(tmp_path, [run], ["flood"])
    kpis = {k["id"]: k for k in data["kpis"]}
    assert kpis["compliant_refusals"]["value"] == 120 and kpis["compliant_refusals"]["passed"] is False
    assert kpis["compliant_p99_under_flood"]["value"] is None  # no accepted command: nothing to time
    assert kpis["compliant_p99_under_flood"]["passed"] is False
    assert not {"compliant_refusals", "compliant_p99_under_flood"} & data["passing"]


def test_a_healthy_flood_passes_with_its_sample_sizes(tmp_path: Path) -> None:
    run = _flood_run(tmp_path, [_healthy_attacker(), *(_healthy_player() for _ in range(3))], [])
    data = _written(tmp_path, [run], ["flood"])
    kpis = {k["id"]: k for k in data["kpis"]}
    assert kpis["compliant_refusals"]["value"] == 0 and kpis["compliant_refusals"]["passed"] is True
    assert kpis["compliant_p99_under_flood"]["value"] == 30.0
    assert kpis["compliant_p99_under_flood"]["sample"] == 60
    assert set(LOAD_KPIS) - SHARED_WITH_E2E <= data["passing"], kpis
    assert kpis["connection_success_rate"]["passed"] is True  # judged once e2e reports it too


def test_every_load_kpi_is_written_even_when_the_flood_did_not_run(tmp_path: Path) -> None:
    data = _written(tmp_path, [], ["flood"])
    kpis = {k["id"]: k for k in data["kpis"]}
    assert set(LOAD_KPIS) <= set(kpis)
    assert not data["passing"]


def test_a_scenario_that_did_not_finish_leaves_the_suite_not_measured(tmp_path: Path) -> None:
    good = _flood_run(tmp_path, [_healthy_attacker(), _healthy_player()], [])
    broken = ScenarioRun("capacity", tmp_path / "capacity", returncode=1, error="locust exited 1")
    data = _written(tmp_path, [good, broken], ["flood", "capacity"])
    assert data["planned"] == ["flood", "capacity"] and data["completed"] == ["flood"]
    assert not data["passing"]


def _control(tmp_path: Path, refused: int) -> ScenarioRun:
    attacker = {**_healthy_attacker(), "executed": 500 - refused, "refused": {"rate_limited": refused}}
    return _flood_run(tmp_path, [attacker, _healthy_player()], [], name=NEGATIVE_CONTROL)


def test_a_negative_control_that_still_passes_vetoes_the_load_suite(tmp_path: Path) -> None:
    """With the limit raised, a ratio that still passes means the figure cannot see a missing limiter."""
    flood = _flood_run(tmp_path, [_healthy_attacker(), _healthy_player()], [])
    control = _control(tmp_path, refused=400)  # the raised limit did not take: the control "passes"
    completed, failures = outcome([flood, control])
    assert completed == ("flood", NEGATIVE_CONTROL)
    assert len(failures) == 1 and failures[0].startswith(NEGATIVE_CONTROL)
    data = _written(tmp_path, [flood, control], ["flood", NEGATIVE_CONTROL])
    assert data["failures"] == list(failures)
    assert not data["passing"], data["kpis"]


def test_a_negative_control_that_fails_its_kpi_lets_the_suite_pass(tmp_path: Path) -> None:
    flood = _flood_run(tmp_path, [_healthy_attacker(), _healthy_player()], [])
    control = _control(tmp_path, refused=0)
    assert control_verdict(control) == (True, None)
    data = _written(tmp_path, [flood, control], ["flood", NEGATIVE_CONTROL])
    kpis = {k["id"]: k for k in data["kpis"]}
    assert set(LOAD_KPIS) - SHARED_WITH_E2E <= data["passing"], kpis
    assert kpis["connection_success_rate"]["passed"] is True  # judged once e2e reports it too
    # The control's own players are not pooled into the suite's connection rate.
    assert "negative_control" not in kpis["connection_success_rate"]["evidence"]


def test_a_negative_control_that_did_not_run_is_not_completed(tmp_path: Path) -> None:
    control = ScenarioRun(NEGATIVE_CONTROL, tmp_path, returncode=None, error="RuntimeError: nats-server died")
    assert control_verdict(control) == (False, None)
    assert outcome([control]) == ((), ())


def test_compliant_timeouts_and_an_uncapped_alias_flood_are_failures() -> None:
    flood = ScenarioRun("flood", Path("."), returncode=0, figures={"compliant_timeouts": 3})
    alias = ScenarioRun("alias_amplification", Path("."), returncode=0,
                        figures={"capped": False, "executed_commands_per_s_max": 48.0, "limit_per_s": 10.0})
    completed, failures = outcome([flood, alias])
    assert completed == ("flood", "alias_amplification")
    assert [f.split(":")[0] for f in failures] == ["flood", "alias_amplification"]


def test_harness_load_exits_1_for_a_vetoed_or_incomplete_run(tmp_path: Path) -> None:
    """``failed`` drives the CLI's exit code: a veto or a missing scenario is a reason, KPIs passing or not."""
    flood = _flood_run(tmp_path, [_healthy_attacker(), _healthy_player()], [])
    control = _control(tmp_path, refused=400)
    path, completed, failures = write_load_suite([flood, control], ["flood", NEGATIVE_CONTROL, "capacity"],
                                                 started=datetime.now(UTC), out_dir=tmp_path / "kpi")
    result = LoadResult([flood, control], path, tmp_path / "summary.json", ("flood", NEGATIVE_CONTROL, "capacity"),
                        completed, failures)
    reasons = failed(result)
    assert any(r.startswith(NEGATIVE_CONTROL) for r in reasons), reasons
    assert "capacity: did not complete" in reasons
    healthy = LoadResult([flood], path, tmp_path / "summary.json", ("flood",), ("flood",), ())
    assert [r for r in failed(healthy) if "did not complete" in r or "negative" in r] == []
