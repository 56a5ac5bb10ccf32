"""The one-world scenarios run for real: three game servers on one PostgreSQL and a 3-node NATS
cluster, CLUSTER_SESSIONS on, players on every server chatting through each scenario.

Each run is held to every expectation of the other chaos scenarios (tests.chaos.expectations: no
acknowledged line lost, no duplicates, DLQ accounted, steady state around every fault) and to
what it exists to show (harness.cluster.checks):

- split_login: exactly one live session after each of 100 races and 18 sequential logins
  (``double_sessions`` 0, ``cross_server_eviction_s`` within the spec), alias changes seen on the
  next server (``alias_propagation_ms`` within the spec, 40 samples), and a flood that hops
  servers held to one rate budget;
- mythos_rolling_restart: each game server was stopped and came back, and players whose server
  went away played on another;
- postgres_restart: the database was down at least 5 s, moves were refused with
  ``database_unavailable`` and a retry hint, chat flowed meanwhile, and no room was half-written.

Figures are printed (run with -s). ``-m chaos_cluster`` selects them (see conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from harness.history import NEMESIS, F, load_history
from harness.kpi import compare, spec_for
from harness.results import ScenarioResult
from scenarios import ONE_WORLD
from tests.chaos.expectations import summary, violations
from tests.chaos.pool import ScenarioPool, cluster_params
from tests.chaos.session import ChaosSession

pytestmark = [pytest.mark.chaos_cluster, pytest.mark.timeout(480)]

MIN_DATABASE_DOWN_S = 5.0


def _within_spec(kpi_id: str, value: Any) -> str | None:
    spec = spec_for(kpi_id)
    if value is None or not compare(float(value), spec.comparator, spec.threshold):
        return f"{kpi_id} = {value}, spec {spec.comparator} {spec.threshold}"
    return None


def _section(result: ScenarioResult, name: str) -> Mapping[str, Any]:
    section = result.checks.get(name)
    return section if isinstance(section, Mapping) else {}


def _one_session_each_time(result: ScenarioResult) -> list[str]:
    sessions = _section(result, "sessions")
    print(f"split_login: {sessions.get('rounds')} of {sessions.get('planned_rounds')} rounds, double_sessions="
          f"{sessions.get('double_sessions')} no_session={sessions.get('no_session_rounds')} "
          f"wrong_winner={sessions.get('wrong_winner')} outcomes={sessions.get('outcomes')} "
          f"cross_server_eviction_s p95={sessions.get('cross_server_eviction_s')} "
          f"max={sessions.get('cross_server_eviction_max_s')} by kind={sessions.get('eviction_p95_s')}")
    problems = [str(p) for p in sessions.get("problems") or ()]
    if sessions.get("double_sessions") != 0:
        problems.append(f"double_sessions = {sessions.get('double_sessions')}")
    problem = _within_spec("cross_server_eviction_s", sessions.get("cross_server_eviction_s"))
    return problems + ([problem] if problem else []) + ([] if sessions.get("valid") is True else ["sessions invalid"])


def _aliases_coherent(result: ScenarioResult) -> list[str]:
    aliases = _section(result, "alias_propagation")
    print(f"alias_propagation_ms p95={aliases.get('alias_propagation_ms')} "
          f"max={aliases.get('alias_propagation_max_ms')} samples={aliases.get('samples')} "
          f"polls={aliases.get('polls')}")
    problems = [str(p) for p in aliases.get("problems") or ()]
    problem = _within_spec("alias_propagation_ms", aliases.get("alias_propagation_ms"))
    return problems + ([problem] if problem else [])


def _one_rate_budget(result: ScenarioResult) -> list[str]:
    rate = _section(result, "rate_budget")
    print(f"rate_switch: at most {rate.get('max_in_window')} commands ran in {rate.get('window_s')} s "
          f"(budget {rate.get('budget')}; busiest window {rate.get('busiest_by_server')}); per server "
          f"{rate.get('by_server')}; sessions evicted by the hops {rate.get('evicted')}/{rate.get('hops')}")
    return [f"rate budget: {p}" for p in rate.get("problems") or ()] or (
        [] if rate.get("valid") is True else ["rate budget not judged"])


def _split_login(result: ScenarioResult) -> list[str]:
    return [*_one_session_each_time(result), *_aliases_coherent(result), *_one_rate_budget(result)]


def _every_server_restarted_and_players_moved(result: ScenarioResult) -> list[str]:
    test, ops = load_history(Path(result.history))
    healed = {str((op.value or {}).get("params", {}).get("service")) for op in ops
              if op.process == NEMESIS and op.f == F.HEAL and op.type == "ok"}
    homes = dict(test.test.get("player_servers") or {})
    moved = sorted({(op.process, str((op.value or {}).get("server"))) for op in ops
                    if op.f == F.CONNECT and op.type == "ok" and homes.get(op.process)
                    and (op.value or {}).get("server") != homes[op.process]})
    print(f"mythos_rolling_restart: restarted {sorted(healed)}; players that played elsewhere: {moved}")
    problems = [] if healed == {"mythos-0", "mythos-1", "mythos-2"} else [f"servers restarted: {sorted(healed)}"]
    if not moved:
        problems.append("no player reconnected to another server while its own was down")
    return problems


def _database_outage_held(result: ScenarioResult) -> list[str]:
    _, ops = load_history(Path(result.history))
    stopped = next((op.time for op in ops if op.process == NEMESIS and op.f == F.START and op.type == "ok"), None)
    restarting = next((op.time for op in ops if op.process == NEMESIS and op.f == F.HEAL and op.type == "invoke"),
                      None)
    down = None if stopped is None or restarting is None else restarting - stopped
    rooms = _section(result, "rooms")
    print(f"postgres_restart: database down {down} s; database_unavailable refusals {rooms.get('database_refusals')} "
          f"(by type {rooms.get('refusals_by_type')}); chat during the outage: "
          f"{rooms.get('chat_acknowledged_during_outage')} lines acknowledged, "
          f"{rooms.get('chat_received_during_outage')} received; rooms confirmed "
          f"{rooms.get('confirmed')} database {rooms.get('database')}")
    problems = [f"rooms: {p}" for p in rooms.get("problems") or ()]
    if rooms.get("valid") is not True and not problems:
        problems.append("rooms not judged")
    if down is None or down < MIN_DATABASE_DOWN_S:
        problems.append(f"the database was down {down} s, not {MIN_DATABASE_DOWN_S:g}")
    return problems


def _chat_violations(result: ScenarioResult) -> list[str]:
    """The chaos expectations; a run without a fault window (split_login) has nothing to recover
    from, so its recovery figure is rightly not measured (the recovery checker says valid)."""
    faulted = bool(result.schedule.get("windows"))
    return [p for p in violations(result)
            if faulted or not (p.startswith("nats_recovery_s not measured") and _section(result, "recovery").get(
                "valid") is True)]


EXTRA: dict[str, Callable[[ScenarioResult], list[str]]] = {
    "split_login": _split_login,
    "mythos_rolling_restart": _every_server_restarted_and_players_moved,
    "postgres_restart": _database_outage_held,
}


def test_every_one_world_scenario_has_its_own_expectations() -> None:
    assert set(EXTRA) == set(ONE_WORLD)


@pytest.mark.parametrize("name", cluster_params(ONE_WORLD))
def test_one_world_scenario_holds_its_guarantees(name: str, request: pytest.FixtureRequest, chaos_pool: ScenarioPool,
                                                 chaos_session: ChaosSession) -> None:
    check = f"{name}: what the scenario exists to show"
    chaos_session.fail(check)  # until shown otherwise: a run that raises must not pass it
    result = chaos_session.record(chaos_pool.result(request.node))
    assert result.scenario == name
    wall_s = (result.finished - result.started).total_seconds()
    print(f"{summary(result)}; wall {wall_s:.1f} s")
    extra = EXTRA[name](result)
    if not extra:
        chaos_session.passed(check)
    problems = [*_chat_violations(result), *extra]
    assert not problems, "\n".join([summary(result), *dict.fromkeys(problems)])
