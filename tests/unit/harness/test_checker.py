"""The checker catches what it exists to catch: lost, duplicated, reordered, dead-lettered messages."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checker import (
    CHECKERS,
    check_safe,
    classify_messages,
    compose,
    merge_valid,
    percentile,
    run_checks,
)
from harness.history import Op
from tests.unit.harness.builders import HistoryBuilder, dlq_entry

TEST: dict[str, Any] = {"name": "synthetic"}


def room_of_three() -> HistoryBuilder:
    return HistoryBuilder().connect(0.0, "alice", "bob", "carol")


def statuses(builder: HistoryBuilder, dlq: list[dict[str, Any]] | None = None) -> dict[str, str]:
    return {m.token: m.status for m in classify_messages(TEST, builder.ops, dlq or [])}


def test_clean_history_is_valid() -> None:
    b = room_of_three()
    for seq in range(1, 4):
        b.say(float(seq), "alice", seq)
        b.recv(seq + 0.1, "bob", "alice", seq).recv(seq + 0.2, "carol", "alice", seq)
    b.drain(10.0)
    result = run_checks(TEST, b.ops, [], names=["delivery", "duplicates", "ordering", "latency"])
    assert result["valid"] is True
    assert result["delivery"]["message_delivery_rate"] == 1.0
    assert result["delivery"]["message_loss_rate"] == 0.0
    assert result["latency"]["p50_s"] == pytest.approx(0.15)


def test_a_message_missing_at_one_recipient_is_lost() -> None:
    b = room_of_three()
    b.say(1.0, "alice", 1)
    b.recv(1.1, "bob", "alice", 1)  # carol never sees it
    b.drain(10.0)
    assert statuses(b) == {"msg_alice_1": "lost"}
    result = run_checks(TEST, b.ops, [], names=["delivery"])
    assert result["valid"] is False
    assert result["delivery"]["message_loss_rate"] == 1.0
    assert result["delivery"]["lost_tokens"] == ["msg_alice_1"]


def test_one_loss_in_a_thousand_fails_the_strict_loss_spec() -> None:
    b = HistoryBuilder().connect(0.0, "alice", "bob")
    for seq in range(1, 1001):
        b.say(seq * 0.001, "alice", seq)
        if seq != 500:
            b.recv(seq * 0.001 + 0.0005, "bob", "alice", seq)
    b.drain(5.0)
    delivery = run_checks(TEST, b.ops, [], names=["delivery"])["delivery"]
    assert delivery["message_loss_rate"] == pytest.approx(0.001)
    assert delivery["valid"] is False  # spec is "< 0.1 %": exactly 0.1 % fails


def test_dead_lettered_message_is_accounted_not_lost() -> None:
    b = room_of_three()
    b.say(1.0, "alice", 1)
    b.drain(10.0)
    dlq = [dlq_entry("alice", 1, error="timeout")]
    assert statuses(b, dlq) == {"msg_alice_1": "dead_lettered"}
    delivery = run_checks(TEST, b.ops, dlq, names=["delivery"])["delivery"]
    assert delivery["message_loss_rate"] == 0.0
    assert delivery["message_delivery_rate"] == 0.0  # dead-lettered is still not delivered
    assert delivery["dlq_accounted"] == 1.0
    assert delivery["valid"] is False


def test_a_message_dead_lettered_twice_is_not_accounted() -> None:
    b = room_of_three()
    b.say(1.0, "alice", 1)
    b.drain(10.0)
    dlq = [dlq_entry("alice", 1), dlq_entry("alice", 1)]
    delivery = run_checks(TEST, b.ops, dlq, names=["delivery"])["delivery"]
    assert delivery["dlq_accounted"] == 0.0
    assert delivery["dlq_repeated"] == ["msg_alice_1"]


def test_lost_and_missing_from_dlq_lowers_dlq_accounted() -> None:
    b = room_of_three()
    b.say(1.0, "alice", 1)
    b.say(2.0, "alice", 2)
    b.drain(10.0)
    delivery = run_checks(TEST, b.ops, [dlq_entry("alice", 1)], names=["delivery"])["delivery"]
    assert delivery["dlq_accounted"] == 0.5
    assert (delivery["dead_lettered"], delivery["lost"]) == (1, 1)


def test_duplicates_are_flagged() -> None:
    b = room_of_three()
    b.say(1.0, "alice", 1)
    b.recv(1.1, "bob", "alice", 1).recv(1.2, "carol", "alice", 1).recv(1.3, "carol", "alice", 1)
    b.drain(10.0)
    result = run_checks(TEST, b.ops, [], names=["delivery", "duplicates"])
    assert result["delivery"]["valid"] is True
    assert result["duplicates"] == {"valid": False, "duplicates": 1, "duplicated_messages": 1,
                                    "duplicated_tokens": ["msg_alice_1"]}
    assert result["valid"] is False


def test_reordering_per_sender_is_flagged() -> None:
    b = room_of_three()
    b.say(1.0, "alice", 1)
    b.say(2.0, "alice", 2)
    b.say(2.5, "bob", 1)
    b.recv(2.1, "bob", "alice", 2).recv(2.2, "bob", "alice", 1)  # bob sees alice's lines swapped
    b.recv(1.1, "carol", "alice", 1).recv(2.1, "carol", "alice", 2)
    b.recv(2.6, "carol", "bob", 1).recv(2.6, "alice", "bob", 1)
    b.drain(10.0)
    ordering = run_checks(TEST, b.ops, [], names=["ordering"])["ordering"]
    assert ordering["valid"] is False
    assert ordering["reordered_tokens"] == ["msg_alice_1"]


def test_interleaving_of_different_senders_is_not_reordering() -> None:
    b = HistoryBuilder().connect(0.0, "alice", "bob", "carol")
    b.say(1.0, "alice", 1)
    b.say(1.0, "bob", 1)
    b.recv(1.2, "carol", "bob", 1).recv(1.3, "carol", "alice", 1)
    b.recv(1.2, "bob", "alice", 1).recv(1.2, "alice", "bob", 1)
    b.drain(5.0)
    assert run_checks(TEST, b.ops, [], names=["ordering"])["valid"] is True


def test_players_who_disconnected_are_not_expected_recipients() -> None:
    b = room_of_three()
    b.say(1.0, "alice", 1)
    b.recv(1.1, "bob", "alice", 1)
    b.disconnect(3.0, "carol")
    b.drain(10.0)
    assert statuses(b) == {"msg_alice_1": "delivered"}


def test_players_who_joined_after_the_send_are_not_expected() -> None:
    b = HistoryBuilder().connect(0.0, "alice", "bob")
    b.say(1.0, "alice", 1)
    b.recv(1.1, "bob", "alice", 1)
    b.connect(2.0, "dave")
    b.drain(10.0)
    assert statuses(b) == {"msg_alice_1": "delivered"}


def test_players_in_another_room_are_not_expected() -> None:
    b = HistoryBuilder().connect(0.0, "alice", "bob").connect(0.0, "erin", room="innsmouth_001")
    b.say(1.0, "alice", 1)
    b.recv(1.1, "bob", "alice", 1)
    b.drain(10.0)
    assert statuses(b) == {"msg_alice_1": "delivered"}


def test_unacknowledged_sends_do_not_count() -> None:
    b = room_of_three()
    b.say(1.0, "alice", 1, outcome="info")
    b.say(2.0, "alice", 2, outcome="fail")
    b.drain(10.0)
    delivery = run_checks(TEST, b.ops, [], names=["delivery"])["delivery"]
    assert delivery["valid"] == "unknown"
    assert (delivery["sent_info"], delivery["sent_fail"], delivery["acknowledged"]) == (1, 1, 0)


def test_an_invocation_that_never_completed_is_unknown() -> None:
    b = room_of_three()
    b.op(1.0, "invoke", "alice", "say", {"token": "msg_alice_1", "seq": 1, "room": "arkham_001"})
    b.drain(10.0)
    assert statuses(b) == {"msg_alice_1": "info"}


def test_senders_own_echo_is_ignored_unless_the_test_expects_it() -> None:
    b = HistoryBuilder().connect(0.0, "alice", "bob")
    b.say(1.0, "alice", 1)
    b.recv(1.1, "alice", "alice", 1).recv(1.1, "alice", "alice", 1)
    b.drain(5.0)
    messages = classify_messages(TEST, b.ops, [])
    assert messages[0].status == "lost"  # bob never got it; alice's echoes do not count
    messages = classify_messages({"echo_to_sender": True}, b.ops, [])
    assert messages[0].expected == {"alice", "bob"}


def test_recovery_time_is_heal_to_first_delivery() -> None:
    b = HistoryBuilder().connect(0.0, "alice", "bob").fault(2.0, 12.0)
    b.say(5.0, "alice", 1)
    b.say(13.0, "alice", 2)
    b.recv(12.4, "bob", "alice", 1).recv(13.1, "bob", "alice", 2)
    b.drain(20.0)
    recovery = run_checks(TEST, b.ops, [], names=["recovery"])["recovery"]
    assert recovery["valid"] is True
    assert recovery["recovery_s"] == [pytest.approx(0.4)]
    assert recovery["nats_recovery_s"] == pytest.approx(0.4)


def test_no_delivery_after_heal_is_an_unrecovered_fault() -> None:
    b = HistoryBuilder().connect(0.0, "alice", "bob").fault(2.0, 4.0)
    b.say(5.0, "alice", 1)
    b.drain(20.0)
    recovery = run_checks(TEST, b.ops, [], names=["recovery"])["recovery"]
    assert recovery["valid"] is False
    assert recovery["unrecovered"] == ["w1@mythos-0"]


def test_a_fault_never_healed_is_invalid() -> None:
    b = HistoryBuilder().connect(0.0, "alice", "bob")
    b.op(2.0, "invoke", "nemesis", "start", {"fault": "blackhole", "window": "b1"})
    b.op(2.0, "ok", "nemesis", "start", {"fault": "blackhole", "window": "b1"})
    b.drain(20.0)
    assert run_checks(TEST, b.ops, [], names=["recovery"])["recovery"]["unhealed"] == ["b1"]


def test_availability_counts_only_probes_inside_fault_windows() -> None:
    b = HistoryBuilder().fault(10.0, 20.0)
    b.probe(1.0, "fail")  # before the fault: not counted
    for t in range(11, 20):
        b.probe(float(t), "ok")
    b.probe(19.5, "info", kind="look")
    availability = run_checks(TEST, b.ops, [], names=["availability"])["availability"]
    assert availability["probes"] == 10 and availability["answered"] == 9
    assert availability["availability_during_nats_faults"] == pytest.approx(0.9)
    assert availability["valid"] is False
    assert availability["by_kind"]["look"] == {"answered": 0, "total": 1}


def test_steady_state_violation_after_heal_is_invalid() -> None:
    b = HistoryBuilder().steady(1.0, True).steady(30.0, False, phase="after")
    result = run_checks(TEST, b.ops, [], names=["steady_state"])["steady_state"]
    assert result["valid"] is False
    assert result["violations"][0]["phase"] == "after"
    assert run_checks(TEST, [], [], names=["steady_state"])["valid"] == "unknown"


def test_timeline_buckets_sends_and_deliveries() -> None:
    b = HistoryBuilder().connect(0.0, "alice", "bob").fault(1.5, 2.5)
    b.say(0.2, "alice", 1)
    b.say(1.6, "alice", 2)
    b.recv(0.3, "bob", "alice", 1)
    b.drain(5.0)
    timeline = run_checks(TEST, b.ops, [], names=["timeline"])["timeline"]
    assert [(r["t"], r["sent"], r["delivered"]) for r in timeline["buckets"]] == [(0.0, 1, 1), (1.0, 1, 0)]
    assert timeline["faults"][0]["start"] == 1.5


def test_a_crashing_checker_yields_unknown_and_spares_the_others() -> None:
    def broken(test: Any, history: Any, dlq: Any) -> dict[str, Any]:
        raise ZeroDivisionError("boom")

    b = HistoryBuilder().connect(0.0, "alice", "bob")
    b.say(1.0, "alice", 1)
    b.recv(1.1, "bob", "alice", 1).drain(3.0)
    result = compose({"broken": broken, "delivery": CHECKERS["delivery"]})(TEST, b.ops, [])
    assert result["broken"] == {"valid": "unknown", "error": "ZeroDivisionError: boom"}
    assert result["delivery"]["valid"] is True
    assert result["valid"] == "unknown"


def test_a_checker_returning_nonsense_is_unknown() -> None:
    assert check_safe(lambda t, h, d: {"valid": "yes"}, TEST, [], [])["valid"] == "unknown"


def test_unknown_checker_names_are_refused() -> None:
    with pytest.raises(KeyError, match="nope"):
        run_checks(TEST, [], [], names=["nope"])


@pytest.mark.parametrize(("values", "merged"), [
    ([True, True], True), ([True, "unknown"], "unknown"), (["unknown", False], False), ([], True)])
def test_merge_valid_follows_jepsen(values: list[Any], merged: Any) -> None:
    assert merge_valid(values) == merged


def test_percentile_interpolates() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 95) == 5.0
    assert percentile([], 95) is None


def test_every_registered_checker_accepts_an_empty_history() -> None:
    empty: list[Op] = []
    for name, checker in CHECKERS.items():
        assert check_safe(checker, TEST, empty, [])["valid"] in (True, "unknown"), name


def test_refused_chat_must_be_in_the_dlq_but_not_in_the_delivery_rate() -> None:
    b = room_of_three()
    b.say(1.0, "alice", 1)
    b.recv(1.1, "bob", "alice", 1).recv(1.1, "carol", "alice", 1).recv(1.1, "alice", "alice", 1)
    b.op(2.0, "invoke", "alice", "say", {"token": "msg_alice_2", "seq": 2, "room": "arkham_001"})
    b.op(2.1, "fail", "alice", "say", {"token": "msg_alice_2", "seq": 2, "room": "arkham_001"},
         "chat_unavailable")
    b.op(3.0, "invoke", "alice", "say", {"token": "msg_alice_3", "seq": 3, "room": "arkham_001"})
    b.op(3.1, "fail", "alice", "say", {"token": "msg_alice_3", "seq": 3, "room": "arkham_001"},
         "rate_limited")
    b.drain(10.0)
    delivery = run_checks(TEST, b.ops, [], names=["delivery"])["delivery"]
    assert delivery["message_delivery_rate"] == 1.0
    assert delivery["dlq_expected"] == 1 and delivery["dlq_accounted"] == 0.0
    assert delivery["dlq_missing_tokens"] == ["msg_alice_2"]
    assert delivery["valid"] is False
    accounted = run_checks(TEST, b.ops, [{"message_data": {"content": "msg_alice_2"}}], names=["delivery"])
    assert accounted["delivery"]["dlq_accounted"] == 1.0 and accounted["valid"] is True


def test_availability_ignores_faults_that_are_not_on_nats() -> None:
    b = HistoryBuilder().fault(10.0, 20.0, name="kill_mythos", params={"service": "mythos-0"})
    b.probe(12.0, "fail")
    availability = run_checks(TEST, b.ops, [], names=["availability"])["availability"]
    # No NATS fault: the KPI does not apply to this run (valid, not measured, not unknown).
    assert availability["probes"] == 0 and availability["valid"] is True
    assert availability["applicable"] is False and availability["availability_during_nats_faults"] is None
    b = HistoryBuilder().fault(10.0, 20.0, name="kill_nats", params={"service": "nats"})
    b.probe(12.0, "fail")
    assert run_checks(TEST, b.ops, [], names=["availability"])["availability"]["probes"] == 1


def test_availability_is_unknown_when_no_probe_ran_during_a_nats_fault() -> None:
    b = HistoryBuilder().fault(10.0, 20.0).probe(25.0, "ok")
    availability = run_checks(TEST, b.ops, [], names=["availability"])["availability"]
    assert availability["applicable"] is True and availability["valid"] == "unknown"


def test_recovery_without_any_fault_is_vacuously_valid_but_a_silent_heal_is_unknown() -> None:
    quiet = HistoryBuilder().connect(0.0, "alice", "bob").drain(5.0)
    assert run_checks(TEST, quiet.ops, [], names=["recovery"])["recovery"]["valid"] is True
    healed = HistoryBuilder().fault(1.0, 2.0).drain(5.0)
    assert run_checks(TEST, healed.ops, [], names=["recovery"])["recovery"]["valid"] == "unknown"
