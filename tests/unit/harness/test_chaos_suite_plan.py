"""The chaos suite file says what was planned, what returned, and which non-KPI checks failed.

A partial session used to pool only the scenarios that returned, and a failed duplicates,
ordering, steady-state, link-FSM or replay check left the suite's KPIs green. Now the suite
declares its plan (the collected scenario tests), a scenario without a verdict leaves the
file's KPIs not measured, and every failed non-KPI check vetoes them by name.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from harness.checker import run_checks
from harness.history import write_history
from harness.kpi import load_suite
from harness.results import ScenarioResult, chaos_kpis, check_failures, write_chaos_suite
from tests.unit.harness.builders import HistoryBuilder, dlq_entry

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run(tmp_path: Path, name: str, *, duplicate: bool = False, refuse: bool = False) -> ScenarioResult:
    """A partition run: alice and bob chat, one line is said under the fault (queued or refused)."""
    b = HistoryBuilder().connect(0.0, "alice", "bob").steady(0.5, True).fault(2.0, 4.0)
    for seq in (1, 5, 6):
        b.say(float(seq), "alice", seq)
        b.recv(seq + 0.2, "bob", "alice", seq)
    if duplicate:
        b.recv(6.3, "bob", "alice", 6)
    b.say(3.0, "bob", 1, "fail", queued=not refuse, error="chat_unavailable")
    b.probe(3.0, "ok").steady(4.5, True, phase="after").drain(8.0)
    dlq = [] if refuse else [dlq_entry("bob", 1)]
    b.replay(9.0, replayed=len(dlq))
    if dlq:
        b.recv(9.2, "alice", "bob", 1)
    b.dlq_read(9.5, []).replay(10.0, round_=2)
    b.disconnect(12.0, "alice").disconnect(12.0, "bob")
    history = write_history(tmp_path / "runs" / name / "history.jsonl", b.ops, test={"name": name})
    checks = run_checks({"name": name}, b.ops, dlq,
                        names=["delivery", "duplicates", "ordering", "recovery", "acceptance",
                               "availability", "steady_state", "replay", "replay_settled"])
    return ScenarioResult(scenario=name, run_id=name, evidence=f"scenarios/{name}.py", started=T0,
                          finished=T0 + timedelta(seconds=12), history=str(history), checks=checks)


def test_a_clean_run_has_no_failed_checks_and_its_acceptance_is_pooled(tmp_path: Path) -> None:
    clean, refusing = run(tmp_path, "nats_partition"), run(tmp_path, "nats_blackhole", refuse=True)
    assert check_failures(clean) == []
    kpis = {k.id: k for k in chaos_kpis([clean, refusing])}
    assert kpis["chat_answered_rate"].value == 1.0
    assert kpis["chat_accepted_during_faults"].value == 0.5  # one queued, one refused outright
    assert not kpis["chat_accepted_during_faults"].passed
    assert "1 refused" in kpis["chat_accepted_during_faults"].evidence
    assert "nats_blackhole=0 (1 refused)" in kpis["chat_accepted_during_faults"].evidence


def test_recovery_evidence_names_each_server(tmp_path: Path) -> None:
    kpi = {k.id: k for k in chaos_kpis([run(tmp_path, "nats_partition")])}["nats_recovery_s"]
    assert kpi.value is not None and abs(kpi.value - 1.2) < 1e-9  # heal at 4.0, bob hears alice at 5.2
    assert "nats_partition/mythos-0=1.2" in kpi.evidence


def test_a_failed_non_kpi_check_is_named_and_vetoes_the_suite(tmp_path: Path) -> None:
    noisy = run(tmp_path, "nats_partition", duplicate=True)
    assert check_failures(noisy) == ["nats_partition: duplicates failed"]
    path = write_chaos_suite(tmp_path, results=[noisy], planned=["nats_partition"],
                             failures=["nats_breaker: breaker cycle"])
    suite = load_suite(path)
    assert list(suite.failures) == ["nats_partition: duplicates failed", "nats_breaker: breaker cycle"]
    assert list(suite.planned or ()) == list(suite.completed or ()) == ["nats_partition"]


def test_a_planned_scenario_without_a_verdict_is_declared_missing(tmp_path: Path) -> None:
    done = run(tmp_path, "nats_partition")
    path = write_chaos_suite(tmp_path, results=[done], started=T0,
                             planned=["nats_partition", "nats_kill", "nats_blackhole"])
    suite = load_suite(path)
    assert list(suite.planned or ()) == ["nats_blackhole", "nats_kill", "nats_partition"]
    assert list(suite.completed or ()) == ["nats_partition"]
    raw: dict[str, Any] = json.loads(path.read_text())
    assert raw["planned"] != raw["completed"]


def test_a_session_where_every_scenario_raised_still_writes_an_unmeasured_file(tmp_path: Path) -> None:
    path = write_chaos_suite(tmp_path, results=[], started=T0, planned=["nats_partition"])
    suite = load_suite(path)
    assert list(suite.completed or ()) == [] and not any(k.measured for k in suite.kpis)


@pytest.mark.slow  # subprocess pytest runs: make verify only
def test_the_plan_is_the_collected_scenario_tests() -> None:
    """Collected, not run (a real pytest in a subprocess): -m and -k shape the plan."""
    done = subprocess.run([sys.executable, "-m", "pytest", "tests/chaos", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "-m", "chaos_fast", "-k", "partition or kill"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "chaos plan: nats_kill, nats_partition" in done.stdout.splitlines()
