"""The load figures are pure functions of the files a run leaves; check them on hand-made records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.load import (
    alias_figures,
    capacity_figures,
    chat_figures,
    connection_figures,
    flood_figures,
    percentile,
)
from loadtests.config import LoadConfig, NoInviteLeft, append_records, claim_invite, latency_bucket

pytestmark = pytest.mark.unit


def attacker(executed: int, refused: int, span: float = 10.0, peak: int = 10) -> dict:
    return {"role": "attacker", "sent": executed + refused, "executed": executed,
            "refused": {"rate_limited": refused} if refused else {}, "reply_span_s": span,
            "max_executed_in_window": peak, "timeouts": 0, "connect_ok": True}


def player(refused: dict | None = None, latency: dict | None = None, timeouts: int = 0) -> dict:
    executed = 20 - sum((refused or {}).values()) - timeouts
    return {"role": "player", "sent": 20, "executed": executed, "refused": refused or {}, "timeouts": timeouts,
            "connect_ok": True, "latency_ms": latency if latency is not None else {"3": executed},
            "latency_ms_warmup": {"900": 1}}


def test_a_perfect_limiter_blocks_all_excess() -> None:
    # 10 s at 50/s against 10/s: 110 may run (limit x (span + 1 window)), the rest is excess.
    f = flood_figures([attacker(100, 400), player()], limit=10, window_s=1.0)
    assert f["excess"] == 390
    assert f["dos_blocked_ratio"] == 1.0
    assert f["compliant_refusals"] == 0


def test_a_missing_limiter_blocks_nothing() -> None:
    f = flood_figures([attacker(500, 0)], limit=10, window_s=1.0)
    assert f["dos_blocked_ratio"] == 0.0


def test_a_leaky_limiter_scores_below_one() -> None:
    f = flood_figures([attacker(300, 200)], limit=10, window_s=1.0)
    assert f["dos_blocked_ratio"] == pytest.approx(200 / 390)


def test_compliant_refusals_and_p99_come_from_the_players_accepted_commands() -> None:
    # 98 fast, 1 at 40 ms, 1 at 150 ms accepted; the two refusals are in no histogram.
    f = flood_figures([attacker(100, 400), player({"rate_limited": 2}, {"3": 98, "40": 1, "150": 1})],
                      limit=10, window_s=1.0)
    assert f["compliant_refusals"] == 2
    assert f["compliant_measured"] == 100
    assert f["compliant_p99_ms"] == 40.0
    assert f["compliant_p50_ms"] == 3.0
    assert f["compliant_p99_with_warmup_ms"] == 150.0  # the 900 ms warm-up round trip is 1 of 101


def test_a_timeout_stays_in_the_latency_sample() -> None:
    """A player that waited in vain counts at its patience: a silent server cannot look fast."""
    f = flood_figures([player(latency={"3": 90, "5000": 10}, timeouts=10)], limit=10, window_s=1.0)
    assert f["compliant_p99_ms"] == 5000.0 and f["compliant_timeouts"] == 10


def test_locusts_rounding_of_round_trips() -> None:
    assert [latency_bucket(ms) for ms in (0.4, 3.6, 99.4, 149.0, 1234.0, 5000.0, 12_345.0)] == \
        [0, 4, 99, 150, 1200, 5000, 12_000]


def test_percentile_matches_locusts_rule() -> None:
    assert percentile({}, 0.99) is None
    assert percentile({"10": 99, "500": 1}, 0.99) == 10.0
    assert percentile({"10": 98, "500": 2}, 0.99) == 500.0


def test_connection_rate_counts_finished_attempts() -> None:
    records = [{"connect_ok": True}, {"connect_ok": False, "connect_error": "register: HTTP 400"},
               {"connect_ok": False, "connect_error": ""}]
    f = connection_figures(records)
    assert (f["attempts"], f["successes"], f["rate"]) == (2, 1, 0.5)


def test_alias_figures_flag_an_uncapped_server() -> None:
    def alias(room_states: int) -> dict:
        return {"role": "alias", "alias_defined": True, "flood_span_s": 10.0, "room_states": room_states + 1,
                "room_states_before_flood": 1, "sent": 50, "refused": {}, "max_room_states_in_window": 10}

    assert alias_figures([alias(100)], limit=10, window_s=1.0, alias_size=10)["capped"] is True
    assert alias_figures([alias(500)], limit=10, window_s=1.0, alias_size=10)["capped"] is False
    missing = alias_figures([{"role": "alias", "alias_defined": False, "alias_error": "unknown_command"}],
                            limit=10, window_s=1.0, alias_size=10)
    assert missing["capped"] is None and missing["alias_errors"] == ["unknown_command"]


def test_alias_figures_count_a_held_backlog_over_the_time_it_ran() -> None:
    """A server that holds a flooding socket unread runs its backlog after the flood stops (the
    close frame waits behind it): 34 bursts of 10 at 1/s arrive over 33 s, while the attacker
    sent for 23.5 s. Dividing by the send span read 14.5/s from a server that never ran more
    than 10 in any window (measured with the fake lag, before this fix)."""
    record = {"role": "alias", "alias_defined": True, "flood_span_s": 23.5, "flood_started_at": 100.0,
              "last_room_state_at": 133.0, "room_states": 341, "room_states_before_flood": 1, "sent": 120,
              "refused": {"rate_limited": 36}, "max_room_states_in_window": 10}
    held = alias_figures([record], limit=10, window_s=1.0, alias_size=10)
    assert held["capped"] is True
    assert held["executed_commands_per_s_max"] == pytest.approx(340 / 33.0)
    # The same count squeezed into the send span is a server running past its limit.
    burst = {**record, "last_room_state_at": 123.0}
    assert alias_figures([burst], limit=10, window_s=1.0, alias_size=10)["capped"] is False


def test_chat_delivered_ratio() -> None:
    chatters = [{"role": "chat", "connect_ok": True, "chat_sent": 2, "chat_received": 4, "room_size_at_start": 3}
                for _ in range(3)]
    stats = [{"method": "chat", "name": "say delivery", "response_times": {"5": 10, "20": 2}}]
    f = chat_figures(chatters, stats)
    assert f["expected_deliveries"] == 12 and f["delivered_ratio"] == 1.0
    assert f["delivery_p99_ms"] == 20.0


def test_capacity_takes_the_best_step_within_the_limit() -> None:
    doc = {"p99_limit_ms": 100.0, "stop_reason": "p99 above 100 ms",
           "steps": [{"users": 10, "commands_per_s": 50.0, "p99_ms": 20.0},
                     {"users": 20, "commands_per_s": 100.0, "p99_ms": 60.0},
                     {"users": 40, "commands_per_s": 150.0, "p99_ms": 300.0}]}
    f = capacity_figures(doc)
    assert (f["sustained_commands_per_s"], f["sustained_players"], f["crossed_limit"]) == (100.0, 20, True)
    assert capacity_figures({})["sustained_commands_per_s"] is None


def test_load_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="attackerz"):
        LoadConfig.from_mapping({"host": "h", "invites_file": "i", "results_file": "r", "attackerz": 3})


def test_invites_are_claimed_once(tmp_path: Path) -> None:
    path = tmp_path / "invites.json"
    path.write_text(json.dumps(["a", "b"]), encoding="utf-8")
    assert {claim_invite(path), claim_invite(path)} == {"a", "b"}
    with pytest.raises(NoInviteLeft):
        claim_invite(path)


def test_records_append_as_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "players.jsonl"
    append_records(path, [{"role": "player"}])
    append_records(path, [{"role": "attacker"}, {"role": "chat"}])
    assert [json.loads(x)["role"] for x in path.read_text().splitlines()] == ["player", "attacker", "chat"]


def test_the_harness_side_never_imports_locust() -> None:
    """Importing locust monkey-patches with gevent: the harness and pytest must stay clean of it."""
    code = ("import sys, harness.load, harness.cli, loadtests.config; "
            "bad = [m for m in ('locust', 'gevent') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
