"""The one-world checkers and KPIs (harness.cluster): figures from exact synthetic histories.

Each test states a timeline and the figure it must give, including the runs that must not pass:
a double session, a round with no session, the older login surviving, a short run, a change
another server never showed, a second rate budget after a hop, a half-written room.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from harness.checker import run_checks
from harness.cluster.checks import alias_propagation, rate_budget, rooms, sessions
from harness.cluster.context import WorkloadContext
from harness.cluster.kpis import one_world_kpis
from harness.cluster.ops import W, p95
from harness.history import History
from harness.kpi import KPIResult
from harness.results import CHAOS_SUITE, CLUSTER_SUITE, ScenarioResult, chaos_kpis, check_failures
from tests.unit.harness.cluster_histories import ClusterHistory, alias_case, rate_case, rooms_case, sessions_case

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _result(name: str, checks: dict[str, Any]) -> ScenarioResult:
    return ScenarioResult(scenario=name, run_id=name, evidence=f"scenarios/{name}.py", started=T0,
                          finished=T0 + timedelta(seconds=60), history="history.jsonl", checks=checks)


def _kpis(*checks: dict[str, Any]) -> dict[str, KPIResult]:
    return {k.id: k for k in one_world_kpis([_result(f"run{i}", c) for i, c in enumerate(checks)])}


# ---------------------------------------------------------------- sessions


def test_one_live_side_per_round_gives_the_eviction_times_and_no_double_session() -> None:
    test, ops, dlq = sessions_case(bad=False)
    result = sessions(test, ops, dlq)
    assert result["valid"] is True and result["complete"] is True
    assert result["double_sessions"] == 0 and result["rounds"] == 2
    # Round 0: a evicted 0.05 s after b's connect began; round 1: b evicted the same.
    assert result["eviction_s"] == {"race": [0.05, 0.05]}
    assert result["cross_server_eviction_s"] == pytest.approx(0.05)


def test_two_live_sides_are_a_double_session() -> None:
    test, ops, dlq = sessions_case(bad=True)
    result = sessions(test, ops, dlq)
    assert result["valid"] is False
    assert result["double_sessions"] == 1
    assert any("two live sessions" in p for p in result["problems"])


def test_a_round_that_lost_the_player_and_an_older_login_that_survived_are_refused() -> None:
    b = ClusterHistory().plan(0.0, "sequential_eviction", rounds=2)
    b.race(1.0, 0, loser="old", workload="sequential_eviction", kind="sequential")
    b.race(2.0, 1, loser="new", workload="sequential_eviction", kind="sequential")  # the newer login lost
    wrong = sessions({"workloads": ["sequential_eviction"]}, b.ops, [])
    assert wrong["valid"] is False and wrong["wrong_winner"] == 1

    b = ClusterHistory().plan(0.0, "split_login", rounds=1)
    b.race(1.0, 0, loser="a")
    b.ops = [op for op in b.ops if not (op.f == W.ALIVE and op.type == "ok")]  # nobody answered
    b.alive(1.5, "split_login", 0, "b", live=False)
    empty = sessions({"workloads": ["split_login"]}, b.ops, [])
    assert empty["valid"] is False and empty["no_session_rounds"] == 1
    kpi = _kpis({"sessions": empty})["double_sessions"]
    assert kpi.value == 0 and not kpi.passed and kpi.vetoed  # not two sessions, but not one either


def test_a_loser_closed_without_an_eviction_or_a_refusal_is_refused() -> None:
    b = ClusterHistory().plan(0.0, "split_login", rounds=1).race(1.0, 0, loser="a")
    b.ops = [op for op in b.ops if op.f != W.EVICTED]  # side a just went away: no notice, no 4409
    result = sessions({"workloads": ["split_login"]}, b.ops, [])
    assert result["valid"] is False and result["unexplained"] == 1
    assert result["double_sessions"] == 0


def test_fewer_rounds_than_planned_is_incomplete_and_leaves_the_kpis_not_measured() -> None:
    b = ClusterHistory().plan(0.0, "split_login", rounds=100).race(1.0, 0)
    result = sessions({"workloads": ["split_login"]}, b.ops, [])
    assert result["valid"] is False and result["complete"] is False
    assert "1 of 100 planned login rounds settled" in result["problems"]
    kpis = _kpis({"sessions": result})
    assert kpis["double_sessions"].value is None and kpis["cross_server_eviction_s"].value is None
    assert "planned login rounds" in kpis["double_sessions"].evidence


def test_a_named_workload_that_never_started_or_raised_is_invalid() -> None:
    never = sessions({"workloads": ["split_login"]}, [], [])
    assert never["valid"] is False and never["complete"] is False
    b = ClusterHistory().plan(0.0, "split_login", rounds=1).race(1.0, 0)
    b.op(2.0, "fail", "test", W.ERROR, {"workload": "split_login"}, "RuntimeError: boom")
    raised = sessions({"workloads": ["split_login"]}, b.ops, [])
    assert raised["valid"] is False and any("boom" in p for p in raised["problems"])


def test_a_slow_eviction_fails_the_spec() -> None:
    b = ClusterHistory().plan(0.0, "split_login", rounds=1).race(1.0, 0, evict_after=2.5)
    result = sessions({"workloads": ["split_login"]}, b.ops, [])
    assert result["cross_server_eviction_s"] == pytest.approx(2.5)
    assert result["valid"] is False and result["complete"] is True
    assert not _kpis({"sessions": result})["cross_server_eviction_s"].passed


def test_the_checkers_do_not_apply_to_a_run_without_their_workloads() -> None:
    for checker in (sessions, alias_propagation, rate_budget, rooms):
        assert checker({"name": "nats_kill"}, [], []) == {**checker({}, [], []), "valid": True, "applicable": False}


# ---------------------------------------------------------------- aliases


def test_alias_propagation_runs_from_the_acknowledgement_to_the_first_reply_showing_it() -> None:
    test, ops, dlq = alias_case(bad=False)
    result = alias_propagation(test, ops, dlq)
    assert result["valid"] is True and result["samples"] == 30
    assert result["alias_propagation_ms"] == pytest.approx(20.0)
    kpi = _kpis({"alias_propagation": result})["alias_propagation_ms"]
    assert kpi.value == pytest.approx(20.0) and kpi.passed and kpi.sample == 30


def test_a_change_never_shown_fails_and_leaves_the_figure_not_measured() -> None:
    test, ops, dlq = alias_case(bad=True)
    result = alias_propagation(test, ops, dlq)
    assert result["valid"] is False and result["complete"] is False
    assert any("never showed" in p for p in result["problems"])
    assert _kpis({"alias_propagation": result})["alias_propagation_ms"].value is None


def test_a_reply_sent_before_the_acknowledgement_does_not_count() -> None:
    b = ClusterHistory().plan(0.0, "alias_propagation", process="aliaser", samples=1)
    b.alias(0, 1.0, 0.3)
    # A reply showing the alias to a command sent before A acknowledged it: not a propagation.
    use = {"workload": "alias_propagation", "sample": 0, "name": "zq0", "server": "mythos-1"}
    b.op(0.9, "invoke", "aliaser", W.ALIAS_USE, use)
    b.op(1.05, "ok", "aliaser", W.ALIAS_USE, {**use, "state": "expanded"})
    result = alias_propagation({"workloads": ["alias_propagation"]}, b.ops, [])
    assert [s["ms"] for s in result["per_sample"]] == [pytest.approx(300.0)]
    assert result["valid"] is False  # one sample, thirty needed


# ---------------------------------------------------------------- rate budget


def test_one_budget_across_a_hop_holds_and_two_do_not() -> None:
    good = rate_budget(*rate_case(bad=False))
    assert good["valid"] is True and good["max_in_window"] == 10
    bad = rate_budget(*rate_case(bad=True))
    assert bad["valid"] is False and bad["max_in_window"] == 20
    assert bad["busiest_by_server"] == {"mythos-0": 10, "mythos-1": 10}
    failures = check_failures(_result("split_login", {"rate_budget": bad}))
    assert failures == ["split_login: cluster-wide rate budget failed"]


def test_a_command_counts_in_a_window_only_when_its_whole_round_trip_is_inside() -> None:
    b = ClusterHistory().plan(0.0, "rate_switch", process="flooder", budget=2, window_s=1.0, hops=1)
    b.flood(1.0, 0, "mythos-0", ran=True).flood(1.5, 1, "mythos-0", ran=True).flood(1.6, 2, "mythos-0", ran=False)
    b.evicted(1.7, "rate_switch", 0, "hop0", process="flooder")
    # Sent inside the first command's window, answered after it: it may have run after it ended.
    b.flood(1.8, 3, "mythos-1", ran=True, rtt=0.3).flood(1.9, 4, "mythos-1", ran=False)
    result = rate_budget({"workloads": ["rate_switch"]}, b.ops, [])
    assert result["max_in_window"] == 2 and result["valid"] is True


def test_a_flood_that_never_switched_or_was_never_refused_proves_nothing() -> None:
    b = ClusterHistory().plan(0.0, "rate_switch", process="flooder", budget=10, window_s=1.0, hops=1)
    for n in range(5):
        b.flood(1.0 + 0.1 * n, n, "mythos-0", ran=True)
    result = rate_budget({"workloads": ["rate_switch"]}, b.ops, [])
    assert result["valid"] is False
    assert any("never switched" in p for p in result["problems"])
    assert any("nothing was refused" in p for p in result["problems"])
    assert any("0 of 1 sessions left behind were evicted" in p for p in result["problems"])


# ---------------------------------------------------------------- rooms through a database outage


def test_a_clear_outage_keeps_rooms_and_chat() -> None:
    result = rooms(*rooms_case(bad=False))
    assert result["valid"] is True, result["problems"]
    assert result["database_refusals"] == 1
    assert result["chat_acknowledged_during_outage"] == 1 and result["chat_received_during_outage"] == 1
    assert result["confirmed"] == {"walker0": "miskatonic_gate"}


def test_a_half_written_room_is_refused() -> None:
    result = rooms(*rooms_case(bad=True))
    assert result["valid"] is False
    assert result["mismatched"] == {"walker0": {"confirmed": "miskatonic_gate", "database": "arkham_square"}}


@pytest.mark.parametrize(("error", "retry_after", "problem"), [
    ("internal_error", 2.0, "refused otherwise"),
    ("database_unavailable", None, "without a retry_after"),
])
def test_an_outage_must_be_refused_with_a_clear_try_again(error: str, retry_after: float | None,
                                                          problem: str) -> None:
    b = ClusterHistory().plan(0.0, "walkers", process="admin")
    b.move(1.0, 0, "walker0", "miskatonic_gate").outage(2.0, 7.0)
    b.move(3.0, 1, "walker0", None, error=error, retry_after=retry_after)
    b.connect(0.5, "alice", "bob").say(4.0, "alice", 1)
    b.recv(4.05, "bob", "alice", 1).db_rooms(10.0, {"walker0": "miskatonic_gate"})
    result = rooms({"workloads": ["walkers"]}, b.ops, [])
    assert result["valid"] is False
    assert any(problem in p for p in result["problems"])


def test_an_outage_no_move_felt_and_silent_chat_are_refused() -> None:
    b = ClusterHistory().plan(0.0, "walkers", process="admin")
    b.move(1.0, 0, "walker0", "miskatonic_gate").outage(2.0, 7.0).db_rooms(10.0, {"walker0": "miskatonic_gate"})
    result = rooms({"workloads": ["walkers"]}, b.ops, [])
    assert result["valid"] is False
    assert any("never felt" in p for p in result["problems"])
    assert any("chat did not flow" in p for p in result["problems"])


def test_a_room_the_database_could_not_give_is_a_failure() -> None:
    b = ClusterHistory().plan(0.0, "walkers", process="admin").move(1.0, 0, "walker0", "miskatonic_gate")
    b.op(5.0, "invoke", "admin", W.DB_ROOMS, {"workload": "walkers"})
    b.op(6.0, "fail", "admin", W.DB_ROOMS, {"workload": "walkers"}, "ConnectionRefusedError")
    result = rooms({"workloads": ["walkers"]}, b.ops, [])
    assert result["valid"] is False and "ConnectionRefusedError" in result["problems"][0]


# ---------------------------------------------------------------- KPIs and the suite file


def test_the_cluster_suite_reports_the_one_world_kpis_and_the_chaos_suite_does_not() -> None:
    checks = run_checks(*sessions_case(bad=False), names=["sessions"])
    checks |= run_checks(*alias_case(bad=False), names=["alias_propagation"])
    results = [_result("split_login", checks)]
    cluster = {k.id: k for k in chaos_kpis(results, CLUSTER_SUITE)}
    assert cluster["double_sessions"].value == 0 and cluster["double_sessions"].passed
    assert cluster["double_sessions"].sample == 2
    assert cluster["cross_server_eviction_s"].value == pytest.approx(0.05)
    assert cluster["alias_propagation_ms"].value == pytest.approx(20.0)
    chaos = {k.id for k in chaos_kpis(results, CHAOS_SUITE)}
    assert not chaos & {"double_sessions", "cross_server_eviction_s", "alias_propagation_ms"}


def test_without_a_run_of_the_workloads_the_kpis_are_not_measured() -> None:
    kpis = _kpis({"delivery": {"valid": True}})
    for kpi_id in ("double_sessions", "cross_server_eviction_s", "alias_propagation_ms"):
        assert kpis[kpi_id].value is None and not kpis[kpi_id].passed
        assert kpis[kpi_id].evidence.startswith("not measured")


def test_rounds_and_samples_pool_over_runs() -> None:
    first = sessions(*sessions_case(bad=False))
    b = ClusterHistory().plan(0.0, "split_login", rounds=1).race(1.0, 0, evict_after=0.5)
    second = sessions({"workloads": ["split_login"]}, b.ops, [])
    kpis = _kpis({"sessions": first}, {"sessions": second})
    assert kpis["double_sessions"].sample == 3
    assert kpis["cross_server_eviction_s"].value == pytest.approx(p95([0.05, 0.05, 0.5]))


def test_p95_interpolates_like_the_catalogue() -> None:
    assert p95([]) is None
    assert p95([3.0]) == 3.0
    assert p95([1.0, 2.0, 3.0, 4.0]) == pytest.approx(3.85)


def test_a_workload_needs_the_settings_it_is_judged_by(tmp_path: Any) -> None:
    with History(tmp_path / "h.jsonl") as history:
        ctx = WorkloadContext(history=history, servers=[], until=1.0, take_invite=lambda i: "x", env={})
        with pytest.raises(KeyError, match="RATE_LIMIT_MAX_COMMANDS"):
            ctx.setting("RATE_LIMIT_MAX_COMMANDS")
