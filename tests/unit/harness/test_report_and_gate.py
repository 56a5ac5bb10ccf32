"""The report renders what the suites measured, and the gate goes red on any failed or missing KPI."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.checker import run_checks
from harness.cli import main
from harness.history import write_history
from harness.kpi import CATALOGUE, kpi_from_catalogue, write_suite
from harness.report import build_report, load_suites, merge_kpis
from harness.results import ScenarioResult, chaos_kpis, write_chaos_suite
from tests.unit.harness.builders import HistoryBuilder
from tests.unit.harness.gate_run import PASSING, T0, run_env, write_all


def test_catalogue_fixture_covers_every_gated_kpi() -> None:
    assert set(PASSING) == {k for k, spec in CATALOGUE.items() if spec.gated}


def test_gate_passes_only_when_everything_is_measured_and_within_spec(tmp_path: Path) -> None:
    write_all(tmp_path)
    result = CliRunner().invoke(main, ["gate", "--reports", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "gate passed" in result.output


def test_gate_names_every_failed_and_missing_kpi(tmp_path: Path) -> None:
    write_all(tmp_path, overrides={"message_loss_rate": 0.01, "nats_recovery_s": None},
              skip=("xstate_bundle_gzip_kb",))
    result = CliRunner().invoke(main, ["gate", "--reports", str(tmp_path)])
    assert result.exit_code == 1
    assert "FAILED  message_loss_rate: 0.01 ratio, spec < 0.001 ratio" in result.output
    assert "FAILED  nats_recovery_s: not measured" in result.output
    assert "MISSING xstate_bundle_gzip_kb" in result.output
    assert "2 KPI(s) failed, 1 missing" in result.output


def test_gate_with_no_reports_at_all_is_red(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["gate", "--reports", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.count("MISSING") == sum(spec.gated for spec in CATALOGUE.values())
    assert "RUN     " in result.output and "run.json does not exist" in result.output


def test_the_worst_of_two_suites_stands(tmp_path: Path) -> None:
    write_suite("e2e", [kpi_from_catalogue("connection_success_rate", 1.0, "e2e")], started=T0, finished=T0,
                out_dir=tmp_path)
    write_suite("load", [kpi_from_catalogue("connection_success_rate", 0.5, "load")], started=T0, finished=T0,
                out_dir=tmp_path)
    merged = merge_kpis(load_suites(tmp_path))
    assert merged["connection_success_rate"].suite == "load"
    assert not merged["connection_success_rate"].result.passed


def test_dependency_audit_is_shown_as_not_measured() -> None:
    merged = merge_kpis([])
    assert not merged["dependency_audit"].result.measured
    assert not merged["dependency_audit"].gated


def scenario_result(tmp_path: Path, name: str, lose: bool) -> ScenarioResult:
    b = HistoryBuilder().connect(0.0, "alice", "bob").fault(2.0, 4.0)
    for seq in range(1, 8):
        b.say(float(seq), "alice", seq)
        if not (lose and seq == 3):
            b.recv(seq + 0.2, "bob", "alice", seq)
    b.probe(3.0, "ok").drain(10.0)
    history = write_history(tmp_path / "runs" / name / "history.jsonl", b.ops, test={"name": name})
    checks = run_checks({}, b.ops, [])
    result = ScenarioResult(scenario=name, run_id=name, evidence=f"scenarios/{name}.py", started=T0,
                            finished=T0 + timedelta(seconds=12), history=str(history), checks=checks)
    result.save(tmp_path / "runs" / name / "results.json")
    return result


def test_chaos_kpis_pool_messages_and_name_each_scenario(tmp_path: Path) -> None:
    good = scenario_result(tmp_path, "nats_partition", lose=False)
    bad = scenario_result(tmp_path, "nats_blackhole", lose=True)
    kpis = {k.id: k for k in chaos_kpis([good, bad])}
    # One of 14 acknowledged messages was lost: pooled, not averaged per scenario.
    assert kpis["message_loss_rate"].value == pytest.approx(1 / 14)
    assert kpis["message_delivery_rate"].value == pytest.approx(13 / 14)
    assert not kpis["message_loss_rate"].passed
    assert "nats_blackhole=0.1429" in kpis["message_loss_rate"].evidence
    assert kpis["dlq_accounted"].value == pytest.approx(0.0)  # the lost line was not dead-lettered
    assert kpis["nats_recovery_s"].value == pytest.approx(0.2)


def test_chaos_availability_is_the_minimum_over_scenarios(tmp_path: Path) -> None:
    good = scenario_result(tmp_path, "nats_partition", lose=False)
    b = HistoryBuilder().connect(0.0, "alice", "bob").fault(2.0, 4.0)
    b.say(1.0, "alice", 1)
    b.recv(1.2, "bob", "alice", 1).probe(3.0, "fail").probe(3.5, "ok").drain(10.0)
    weak = ScenarioResult(scenario="nats_kill", run_id="r", evidence="scenarios/nats_kill.py", started=T0,
                          finished=T0, history="h", checks=run_checks({}, b.ops, []))
    kpi = {k.id: k for k in chaos_kpis([good, weak])}["availability_during_nats_faults"]
    assert kpi.value == pytest.approx(0.5)
    assert kpi.evidence.startswith("scenarios/nats_kill.py")


def test_report_renders_table_plots_and_wall_time(tmp_path: Path) -> None:
    chaos = tuple(k for k in PASSING if CATALOGUE[k].measured_by[0] == "chaos")
    write_all(tmp_path, skip=chaos)
    scenario_result(tmp_path, "nats_partition", lose=False)
    with run_env():
        write_chaos_suite(tmp_path)
    json_path, html_path, verdict = build_report(tmp_path)
    data = json.loads(json_path.read_text())
    # The synthetic scenario has no steady-state or link samples: the chaos suite vetoes its KPIs.
    assert not verdict.passed and data["gate"]["failed"] == list(verdict.failed)
    assert set(verdict.failed) == {k for k in PASSING if CATALOGUE[k].measured_by[0] == "chaos"}
    assert data["run"]["id"] == "test-run-1" and data["run"]["outcomes"]["chaos"]["exit_code"] == 0
    assert {s["suite"] for s in data["suites"]} >= {"chaos", "coverage", "bench"}
    page = html_path.read_text()
    assert "GATE FAILED" in page and "VETOED  chaos.json: nats_partition: steady state unknown" in page
    assert page.count("data:image/png;base64,") == 3  # delivery timeline, recovery, latency
    assert "link FSM s" in page and ">history</a>" in page  # the per-scenario table
    assert "dependency_audit" in page and "NOT MEASURED" in page
    assert "cross_server_eviction_s" in page and "PENDING (not gated yet)" not in page  # gated since issue 13
    assert "test-run-1" in page and "wall time" in page and "<script" not in page


def test_analyze_rechecks_a_saved_history_and_exits_by_verdict(tmp_path: Path) -> None:
    good = scenario_result(tmp_path, "ok_run", lose=False)
    bad = scenario_result(tmp_path, "bad_run", lose=True)
    runner = CliRunner()
    ok = runner.invoke(main, ["analyze", good.history, "--checker", "delivery"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["delivery"]["message_delivery_rate"] == 1.0
    lost = runner.invoke(main, ["analyze", bad.history, "--checker", "delivery"])
    assert lost.exit_code == 1
    assert json.loads(lost.output)["delivery"]["lost_tokens"] == ["msg_alice_3"]
    unknown = runner.invoke(main, ["analyze", bad.history, "--checker", "steady_state"])
    assert unknown.exit_code == 2
    assert runner.invoke(main, ["analyze", bad.history, "--checker", "nope"]).exit_code != 0


def test_chaos_lists_scenarios() -> None:
    result = CliRunner().invoke(main, ["chaos", "--list"])
    assert result.exit_code == 0
    assert "noop" in result.output.split()


def test_chaos_list_marks_the_fast_subset() -> None:
    result = CliRunner().invoke(main, ["chaos", "--list"])
    assert result.exit_code == 0
    assert "nats_partition (fast)" in result.output
    assert "nats_latency\n" in result.output + "\n"


def test_fuzz_runs_the_property_suite_with_the_full_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    calls: list[list[str]] = []

    def fake_run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 3)

    monkeypatch.setattr(subprocess, "run", fake_run)
    result = CliRunner().invoke(main, ["fuzz"])
    assert result.exit_code == 3  # the suite's exit code is the command's
    assert calls[0][-2:] == ["property", "--full"]
    quick = CliRunner().invoke(main, ["fuzz", "--quick"])
    assert quick.exit_code == 3
    assert calls[1][-1] == "property"
