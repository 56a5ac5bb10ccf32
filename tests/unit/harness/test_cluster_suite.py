"""The cluster scenarios' KPI file: its own suite (``cluster``), cluster_failover_s beside the
pooled chaos KPIs, and the single-node suite never reporting a figure it did not measure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from harness.checker import run_checks
from harness.cli import default_scenarios, load_scenario, main
from harness.kpi import load_suite
from harness.results import CHAOS_SUITE, CLUSTER_SUITE, ScenarioResult, chaos_kpis, suite_of, write_chaos_suite
from scenarios import CLUSTER
from tests.unit.harness.builders import HistoryBuilder

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TEST: dict[str, Any] = {"name": "nats_node_kill", "topology": {"mythos": 2, "nats_cluster": 3},
                        "player_servers": {"alice": "mythos-0", "bob": "mythos-1"}}


def result(name: str, *, kill: bool = True, back_after: tuple[float, float] | None = (1.0, 3.0)) -> ScenarioResult:
    """Alice (mythos-0) and bob (mythos-1) chat; a node kill at 10 s; each line comes back after ``back_after``."""
    b = HistoryBuilder().connect(0.0, "alice", server="mythos-0").connect(0.0, "bob", server="mythos-1")
    if kill:
        b.fault(10.0, 15.0, name="kill_nats_leader", params={"stream": "MYTHOS_CHAT"})
        b.ops[-3].value["effect"] = {"killed": "nats-1", "stream": "MYTHOS_CHAT"}  # the START ok
    b.say(10.5, "alice", 1)
    b.say(10.5, "bob", 1)
    if back_after is not None:
        b.recv(10.0 + back_after[0], "alice", "alice", 1).recv(10.0 + back_after[0], "bob", "alice", 1)
        b.recv(10.0 + back_after[1], "bob", "bob", 1).recv(10.0 + back_after[1], "alice", "bob", 1)
    checks = run_checks(TEST, b.drain(20.0).ops, [], names=["delivery", "failover"])
    return ScenarioResult(scenario=name, run_id=name, evidence=f"scenarios/{name}.py", started=T0,
                          finished=T0 + timedelta(seconds=20), history="history.jsonl", checks=checks)


def kpis(results: list[ScenarioResult], suite: str) -> dict[str, Any]:
    return {k.id: k for k in chaos_kpis(results, suite)}


def test_the_cluster_suite_reports_the_failover_p95_with_who_was_killed() -> None:
    kpi = kpis([result("nats_node_kill")], CLUSTER_SUITE)["cluster_failover_s"]
    assert kpi.value is not None and abs(kpi.value - 2.9) < 1e-9  # p95 of 1.0 and 3.0
    assert kpi.passed
    assert kpi.sample == 2
    assert "nats_node_kill/mythos-1 (killed nats-1)=3" in kpi.evidence


def test_a_slow_failover_fails_the_kpi() -> None:
    kpi = kpis([result("nats_node_kill", back_after=(6.0, 7.0))], CLUSTER_SUITE)["cluster_failover_s"]
    assert kpi.value is not None and kpi.value > 5.0
    assert not kpi.passed


def test_a_cluster_run_without_a_node_kill_leaves_the_failover_not_measured() -> None:
    kpi = kpis([result("nats_node_partition", kill=False)], CLUSTER_SUITE)["cluster_failover_s"]
    assert kpi.value is None and not kpi.passed
    assert "no scenario SIGKILLed a NATS node" in kpi.evidence


def test_a_server_that_never_failed_over_leaves_it_not_measured_and_says_where() -> None:
    kpi = kpis([result("nats_node_kill", back_after=None)], CLUSTER_SUITE)["cluster_failover_s"]
    assert kpi.value is None and not kpi.passed
    assert "nats_node_kill:kill_nats_leader" in kpi.evidence or "never flowed again" in kpi.evidence


def test_the_single_node_suite_reports_no_failover_it_did_not_measure() -> None:
    assert "cluster_failover_s" not in kpis([result("nats_partition", kill=False)], CHAOS_SUITE)


def test_the_cluster_suite_has_its_own_file(tmp_path: Path) -> None:
    path = write_chaos_suite(tmp_path, results=[result("nats_node_kill")], planned=["nats_node_kill"],
                             suite=CLUSTER_SUITE)
    assert path.name == "cluster.json"
    assert not (tmp_path / "kpi" / "chaos.json").exists()
    report = load_suite(path)
    assert report.suite == CLUSTER_SUITE
    assert {k.id for k in report.kpis} >= {"cluster_failover_s", "message_loss_rate"}


def test_scenarios_on_a_cluster_belong_to_the_cluster_suite() -> None:
    assert suite_of({"mythos": 3, "nats_cluster": 3}) == CLUSTER_SUITE
    assert suite_of({"mythos": 2}) == CHAOS_SUITE


def test_harness_chaos_lists_the_cluster_scenarios_and_keeps_them_out_of_the_default_run() -> None:
    listing = CliRunner().invoke(main, ["chaos", "--list"]).output.splitlines()
    assert {line.split()[0] for line in listing if line.endswith("(cluster)")} == set(CLUSTER)
    assert not set(CLUSTER) & set(default_scenarios(fast=False))
    assert not set(CLUSTER) & set(default_scenarios(fast=True))
    for name in CLUSTER:
        assert load_scenario(name).topology.nats_cluster == 3
        assert suite_of(load_scenario(name).describe()["topology"]) == CLUSTER_SUITE


def test_harness_up_refuses_a_cluster_it_cannot_start_before_starting_anything(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["up", "--nats-cluster", "3", "--no-jetstream", "--reports", str(tmp_path)])
    assert result.exit_code == 2
    assert "a NATS cluster runs JetStream" in result.output
    assert not (tmp_path / "runs").exists()
