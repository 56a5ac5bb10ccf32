"""`harness gate` fails closed: each way a run could end green without every check passing on this commit.

Every test starts from a complete passing run on disk (run manifest, outcomes, every gated KPI)
and breaks one thing, the way issue 11 reproduced it, then drives the real CLI.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess  # nosec B404
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import harness.verdict as verdict_module
from harness.cli import main
from harness.kpi import CATALOGUE, PENDING, kpi_from_catalogue, write_suite
from harness.report import build_report
from harness.run_manifest import load_manifest
from harness.run_stamp import RUN_ID_ENV, head_commit
from tests.unit.harness.gate_run import PASSING, RUN_ID, T0, edit_file, edit_kpi, run_env, write_all

ROOT = Path(__file__).resolve().parents[3]


def gate(reports: Path, *extra: str) -> Result:
    return CliRunner().invoke(main, ["gate", "--reports", str(reports), *extra])


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    write_all(tmp_path)
    assert gate(tmp_path).exit_code == 0, "the untouched run must pass"
    return tmp_path


# --- A file that disagrees with the catalogue is refused, named, and its figures ignored.

@pytest.mark.parametrize(
    ("file", "kpi_id", "fields", "named"),
    [
        ("coverage.json", "backend_coverage", {"threshold": 10.0, "value": 20.0}, "threshold 10.0 (catalogue 80.0)"),
        ("chaos.json", "message_loss_rate", {"comparator": ">", "value": 0.5}, "comparator '>' (catalogue '<')"),
        ("load.json", "dos_blocked_ratio", {"threshold": None, "value": 0.1}, "threshold None (catalogue 0.95)"),
        ("bench.json", "alias_check_us", {"goal": 1e9}, "goal 1000000000.0 (catalogue 20.0)"),
        ("client.json", "client_coverage", {"unit": "ratio"}, "unit 'ratio' (catalogue '%')"),
    ],
    ids=["lowered-threshold", "flipped-comparator", "null-threshold", "moved-goal", "other-unit"],
)
def test_a_file_that_rewrites_a_spec_is_refused_and_named(reports: Path, file: str, kpi_id: str,
                                                          fields: dict[str, Any], named: str) -> None:
    edit_kpi(reports / "kpi" / file, kpi_id, **fields, passed=True)
    result = gate(reports)
    assert result.exit_code == 1, result.output
    assert f"REFUSED {file}: {kpi_id}: {named}" in result.output
    assert f"MISSING {kpi_id}: no accepted file reported it" in result.output


def test_a_kpi_id_outside_the_catalogue_is_refused(reports: Path) -> None:
    edit_file(reports / "kpi" / "bench.json",
              lambda data: data["kpis"].append({**data["kpis"][0], "id": "made_up_figure"}))
    result = gate(reports)
    assert result.exit_code == 1
    assert "REFUSED bench.json: made_up_figure: not a catalogue KPI" in result.output


def test_an_unparseable_file_is_named(reports: Path) -> None:
    (reports / "kpi" / "e2e.json").write_text("{not json", encoding="utf-8")
    result = gate(reports)
    assert result.exit_code == 1
    assert "UNREADABLE e2e.json" in result.output


# --- What a suite marked failed stays failed.

def test_a_stored_passed_false_stays_failed(reports: Path) -> None:
    # vitest failed but client.json still carries a coverage figure above the threshold.
    edit_kpi(reports / "kpi" / "client.json", "client_coverage", value=95.0, passed=False)
    result = gate(reports)
    assert result.exit_code == 1
    assert "FAILED  client_coverage: 95 %, vetoed: suite marked it failed" in result.output


def test_suite_failures_veto_every_kpi_of_the_file_and_are_named(reports: Path) -> None:
    edit_file(reports / "kpi" / "chaos.json",
              lambda data: data.update(failures=["scenario nats_partition: duplicates"]))
    result = gate(reports)
    assert result.exit_code == 1
    assert "VETOED  chaos.json: scenario nats_partition: duplicates" in result.output
    for kpi_id in ("message_delivery_rate", "dlq_replayed", "chat_answered_rate"):
        assert f"FAILED  {kpi_id}: " in result.output and "vetoed: suite failures" in result.output


# --- Stale files: another run or another commit.

def test_a_file_from_another_run_is_refused_unless_allow_stale(reports: Path) -> None:
    edit_file(reports / "kpi" / "chaos.json", lambda data: data["run"].update(id="run-from-last-year"))
    result = gate(reports)
    assert result.exit_code == 1
    assert f"STALE   chaos.json: run 'run-from-last-year', not this run '{RUN_ID}'" in result.output
    allowed = gate(reports, "--allow-stale")
    assert allowed.exit_code == 0, allowed.output
    assert "stale   chaos.json" in allowed.output and "1 stale file(s) accepted" in allowed.output
    _, html_path, verdict = build_report(reports, allow_stale=True)
    assert verdict.passed and [f.file for f in verdict.stale_files] == ["chaos.json"]
    assert "(stale)" in html_path.read_text() and "stale: run &#x27;run-from-last-year&#x27;" in html_path.read_text()


def test_a_file_from_another_commit_is_refused_unless_allow_stale(reports: Path) -> None:
    edit_file(reports / "kpi" / "bench.json", lambda data: data["run"].update(commit="0" * 40))
    result = gate(reports)
    assert result.exit_code == 1
    assert f"STALE   bench.json: commit 000000000000, not HEAD {head_commit()[:12]}" in result.output
    assert gate(reports, "--allow-stale").exit_code == 0


def test_a_file_without_a_run_stamp_is_stale(reports: Path) -> None:
    edit_file(reports / "kpi" / "lint.json", lambda data: data.pop("run"))
    result = gate(reports)
    assert result.exit_code == 1
    assert "STALE   lint.json: no run stamp" in result.output


def test_a_run_manifest_of_another_commit_is_stale(reports: Path) -> None:
    path = reports / "kpi" / "run.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "commit": "f" * 40}))
    result = gate(reports)
    assert result.exit_code == 1
    assert "RUN     run.json is from commit ffffffffffff" in result.output
    assert gate(reports, "--allow-stale").exit_code == 0


# --- Partial suites: a planned scenario without a verdict.

def test_a_planned_scenario_without_a_verdict_makes_the_suite_not_measured(reports: Path) -> None:
    edit_file(reports / "kpi" / "chaos.json", lambda data: data.update(
        planned=["nats_partition", "nats_kill"], completed=["nats_partition"]))
    result = gate(reports)
    assert result.exit_code == 1
    assert "SCENARIO chaos.json: planned but returned no verdict: nats_kill" in result.output
    assert ("FAILED  message_delivery_rate: 1 ratio, vetoed: not measured: planned scenarios without a "
            "verdict: nats_kill") in result.output
    data = json.loads(build_report(reports)[0].read_text())
    entry = next(k for k in data["kpis"] if k["id"] == "message_delivery_rate")
    assert entry["missing_scenarios"] == ["nats_kill"] and entry["passed"] is False


# --- Only finite numbers pass.

@pytest.mark.parametrize(("kpi_id", "value"), [
    ("nats_recovery_s", math.inf), ("message_loss_rate", -math.inf), ("connection_recovery_s", -math.inf),
    ("message_delivery_rate", math.nan), ("alias_check_us", math.nan),
])
def test_non_finite_values_never_pass(reports: Path, kpi_id: str, value: float) -> None:
    suite = CATALOGUE[kpi_id].measured_by[0]
    # Written raw, as a forged or buggy writer would: Infinity / NaN literals, passed true.
    edit_kpi(reports / "kpi" / f"{suite}.json", kpi_id, value=value, passed=True)
    result = gate(reports)
    assert result.exit_code == 1, result.output
    assert f"FAILED  {kpi_id}: " in result.output


# --- The run: manifest and suite outcomes.

def test_a_suite_with_a_non_zero_exit_code_fails_the_gate_by_name(tmp_path: Path) -> None:
    write_all(tmp_path, outcomes={"e2e": 1})
    result = gate(tmp_path)
    assert result.exit_code == 1
    assert "SUITE   e2e: exit code 1 (test failure)" in result.output


def test_a_suite_that_never_finished_fails_the_gate_by_name(tmp_path: Path) -> None:
    write_all(tmp_path, outcomes={"chaos": -1})
    result = gate(tmp_path)
    assert result.exit_code == 1
    assert "SUITE   chaos: no outcome recorded" in result.output


def test_a_missing_or_unreadable_run_manifest_fails_the_gate(tmp_path: Path) -> None:
    write_all(tmp_path, manifest=False)
    result = gate(tmp_path)
    assert result.exit_code == 1
    assert "RUN     " in result.output and "run.json does not exist" in result.output
    (tmp_path / "kpi" / "run.json").write_text('{"id": "x"}')
    assert "run.json is unreadable" in gate(tmp_path).output


# --- Minimum samples in a full run.

def test_below_the_minimum_sample_fails_a_full_run_only(tmp_path: Path) -> None:
    write_all(tmp_path, full=True, samples={"validator_bypasses": 400})
    result = gate(tmp_path)
    assert result.exit_code == 1
    assert "FAILED  validator_bypasses: sample 400, a full run needs >= 20000" in result.output
    default_run = tmp_path / "default"
    write_all(default_run, samples={"validator_bypasses": 400})
    assert gate(default_run).exit_code == 0


def test_a_full_run_without_a_recorded_sample_fails(tmp_path: Path) -> None:
    write_all(tmp_path, full=True)
    edit_kpi(tmp_path / "kpi" / "property.json", "invalid_config_rejected", sample=None)
    result = gate(tmp_path)
    assert result.exit_code == 1
    assert "FAILED  invalid_config_rejected: no sample recorded, a full run needs >= 5000" in result.output


# --- Pending rows are listed, never gate.

CLUSTER_ROWS = ("cluster_failover_s", "cross_server_eviction_s", "alias_propagation_ms", "double_sessions")


@pytest.fixture
def cluster_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    """No row is pending since the cluster suite landed; the mechanism stays for the next suite,
    shown with the cluster rows as they were before it landed."""
    for row in CLUSTER_ROWS:
        monkeypatch.setitem(CATALOGUE, row, dataclasses.replace(CATALOGUE[row], gated=False))  # type: ignore[arg-type]
    monkeypatch.setattr(verdict_module, "PENDING", frozenset(CLUSTER_ROWS))


@pytest.mark.usefixtures("cluster_pending")
def test_pending_rows_are_listed_and_do_not_fail_the_gate(reports: Path) -> None:
    with run_env():
        write_suite("cluster", [kpi_from_catalogue("cluster_failover_s", 9.0, "slow")],
                    started=T0, finished=T0, out_dir=reports / "kpi")
    result = gate(reports)
    assert result.exit_code == 0, result.output
    assert "pending cluster_failover_s: not gated yet (9 s" in result.output
    assert "pending cross_server_eviction_s: not gated yet (not measured" in result.output
    assert result.output.count("pending ") == len(CLUSTER_ROWS)


def test_no_row_is_pending_and_a_slow_failover_fails_the_gate(reports: Path) -> None:
    assert not PENDING
    with run_env():
        write_suite("cluster", [kpi_from_catalogue(row, 9.0 if row == "cluster_failover_s" else PASSING[row], "run")
                                for row in CLUSTER_ROWS], started=T0, finished=T0, out_dir=reports / "kpi")
    result = gate(reports)
    assert result.exit_code == 1
    assert "FAILED  cluster_failover_s" in result.output


def _cluster_also_reports(reports: Path, **values: tuple[float | None, int | None]) -> None:
    """Add chaos-catalogue KPIs to cluster.json, as the cluster suite's pooled figures are."""
    def edit(data: dict[str, Any]) -> None:
        for kpi_id, (value, sample) in values.items():
            entry = kpi_from_catalogue(kpi_id, value, "cluster run", sample=sample).to_dict()
            data["kpis"].append(entry)

    edit_file(reports / "kpi" / "cluster.json", edit)


def test_a_figure_the_cluster_suite_could_not_measure_leaves_the_chaos_suites_standing(reports: Path) -> None:
    """make verify 10:59: cluster.json had no DLQ left to replay (dlq_replayed not measured) and
    drained 179 lines (outbox_drain_s under the 500-line full-run sample): both failed the gate
    although chaos.json, the suite that measures them, measured them in full."""
    _cluster_also_reports(reports, dlq_replayed=(None, None), outbox_drain_s=(5.2, 179))
    result = gate(reports)
    assert result.exit_code == 0, result.output


def test_a_failure_the_cluster_suite_measured_still_fails_the_gate(reports: Path) -> None:
    _cluster_also_reports(reports, message_delivery_rate=(0.5, 2680))
    result = gate(reports)
    assert result.exit_code == 1
    assert "FAILED  message_delivery_rate" in result.output and "cluster.json" in result.output


# --- The manifest commands, end to end in a subprocess.

def _harness(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT, env=env,  # nosec B603
                          capture_output=True, text=True, timeout=120, check=False)


def test_run_begin_and_record_through_the_cli(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != RUN_ID_ENV}
    begun = _harness("run", "begin", "--suites", "lint,chaos", "--full", "--reports", str(tmp_path), env=env)
    assert begun.returncode == 0, begun.stderr
    run_id = begun.stdout.strip()
    assert run_id.startswith("run-")
    env[RUN_ID_ENV] = run_id
    assert _harness("run", "record", "lint", "--exit-code", "0", "--reports", str(tmp_path), env=env).returncode == 0
    manifest = load_manifest(tmp_path)
    assert (manifest.id, manifest.suites, manifest.full, manifest.commit) == (run_id, ("lint", "chaos"), True,
                                                                             head_commit())
    assert manifest.outcomes["lint"].exit_code == 0 and "chaos" not in manifest.outcomes
    foreign = _harness("run", "record", "chaos", "--exit-code", "0", "--reports", str(tmp_path),
                       env={**env, RUN_ID_ENV: "another-run"})
    assert foreign.returncode == 2 and "not HARNESS_RUN_ID='another-run'" in foreign.stderr
    gate_run = _harness("gate", "--reports", str(tmp_path), env=env)
    assert gate_run.returncode == 1
    assert "SUITE   chaos: no outcome recorded" in gate_run.stderr
    assert "MISSING message_delivery_rate" in gate_run.stderr


def test_run_begin_uses_harness_run_id(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", "begin", "--suites", "core", "--reports", str(tmp_path)],
                                env={RUN_ID_ENV: "ci-1234"})
    assert result.exit_code == 0 and result.output.strip() == "ci-1234"
    assert not load_manifest(tmp_path).full


@pytest.mark.usefixtures("cluster_pending")
def test_the_report_shows_run_outcomes_vetoes_samples_and_pending(tmp_path: Path) -> None:
    write_all(tmp_path, outcomes={"e2e": 3}, samples={"validator_bypasses": 20_345})
    edit_file(tmp_path / "kpi" / "chaos.json", lambda data: data.update(
        planned=["nats_partition", "nats_kill"], completed=["nats_partition"], failures=["replay: duplicates"]))
    json_path, html_path, verdict = build_report(tmp_path)
    assert not verdict.passed
    data = json.loads(json_path.read_text())
    assert data["run"]["id"] == RUN_ID and data["run"]["commit"] == head_commit()
    assert data["run"]["outcomes"]["e2e"]["exit_code"] == 3
    assert set(data["pending"]) == set(CLUSTER_ROWS)
    chaos = next(f for f in data["files"] if f["file"] == "chaos.json")
    assert chaos["missing_scenarios"] == ["nats_kill"] and chaos["failures"] == ["replay: duplicates"]
    assert chaos["run"]["id"] == RUN_ID and isinstance(chaos["run"]["dirty"], bool)
    assert next(k for k in data["kpis"] if k["id"] == "validator_bypasses")["sample"] == 20_345
    page = html_path.read_text()
    for text in (RUN_ID, head_commit(), "exit 3", "missing scenarios: nats_kill", "failure: replay: duplicates",
                 "VETOED", "20345", "Pending rows", "SUITE   e2e: exit code 3"):
        assert text in page, text


def test_a_kpi_of_two_suites_is_not_measured_when_one_of_them_did_not_report_it(reports: Path) -> None:
    """connection_success_rate is measured by e2e and load: e2e's figure alone must not pass it."""
    edit_file(reports / "kpi" / "load.json",
              lambda data: data.update(kpis=[k for k in data["kpis"] if k["id"] != "connection_success_rate"]))
    result = CliRunner().invoke(main, ["gate", "--reports", str(reports)])
    assert result.exit_code == 1, result.output
    assert "connection_success_rate" in result.output and "load did not report it" in result.output
