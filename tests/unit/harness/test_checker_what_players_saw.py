"""The checker counts what players saw, when they saw it (crafted histories, exact times).

Each case is a history the previous checker judged wrongly: a line only the post-drain replay
brought counted as delivered, refusals and timeouts vanished from every figure, recovery was
read from any player instead of the cut server's, a token quoted in someone's text counted as
that line, and a replay that left its entries behind passed.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.checker import classify_messages, run_checks
from harness.history import NEMESIS, F
from tests.unit.harness.builders import HistoryBuilder, dlq_entry

TEST: dict[str, Any] = {"name": "synthetic", "echo_to_sender": False}
TWO_SERVERS: dict[str, Any] = {"name": "two", "echo_to_sender": False, "topology": {"mythos": 2}}


# ------------------------------------------------------------------ 1. before the replay


def acknowledged_then_only_replayed() -> HistoryBuilder:
    """alice's line 2 was acknowledged, reached nobody during the run, and came with the replay."""
    b = HistoryBuilder().connect(0.0, "alice", "bob", "carol")
    b.say(1.0, "alice", 1)
    b.recv(1.1, "bob", "alice", 1).recv(1.1, "carol", "alice", 1)
    b.say(2.0, "alice", 2)  # ok: the sender was told it was sent
    b.drain(10.0)
    b.replay(12.0, replayed=1)
    b.recv(12.2, "bob", "alice", 2).recv(12.2, "carol", "alice", 2)
    return b


def test_a_line_only_the_replay_brought_is_not_delivered() -> None:
    b = acknowledged_then_only_replayed()
    dlq = [dlq_entry("alice", 2)]
    delivery = run_checks(TEST, b.ops, dlq, names=["delivery"])["delivery"]
    assert (delivery["acknowledged"], delivery["delivered"], delivery["dead_lettered"]) == (2, 1, 1)
    assert delivery["message_delivery_rate"] == pytest.approx(0.5)
    assert delivery["reached_only_by_replay"] == ["msg_alice_2"]
    assert delivery["valid"] is False
    # Replay success is its own figure, and here the replay did land the line.
    replay = run_checks(TEST, b.ops, dlq, names=["replay"])["replay"]
    assert replay["dlq_replayed"] == 1.0


def test_without_a_dlq_entry_a_line_only_the_replay_brought_is_lost() -> None:
    delivery = run_checks(TEST, acknowledged_then_only_replayed().ops, [], names=["delivery"])["delivery"]
    assert delivery["lost_tokens"] == ["msg_alice_2"]
    assert delivery["message_loss_rate"] == pytest.approx(0.5)


def test_a_replayed_copy_of_a_delivered_line_is_a_duplicate_not_a_reorder() -> None:
    b = HistoryBuilder().connect(0.0, "alice", "bob")
    b.say(1.0, "alice", 1)
    b.say(2.0, "alice", 2)
    b.recv(1.1, "bob", "alice", 1).recv(2.1, "bob", "alice", 2).drain(5.0)
    b.replay(6.0)
    b.recv(6.1, "bob", "alice", 1)  # the replay sent line 1 again
    checks = run_checks(TEST, b.ops, [dlq_entry("alice", 1)], names=["delivery", "duplicates", "ordering"])
    assert checks["delivery"]["message_delivery_rate"] == 1.0
    assert checks["duplicates"]["duplicated_tokens"] == ["msg_alice_1"]
    assert checks["ordering"]["valid"] is True


# ------------------------------------------------------------------ 2. answered and accepted


def refusals_under_a_partition() -> HistoryBuilder:
    """Under a NATS partition of mythos-0: 2 ok, 2 queued, 3 refused outright, 1 unanswered."""
    b = HistoryBuilder().connect(0.0, "alice", "bob").fault(5.0, 15.0)
    b.say(1.0, "alice", 1)
    b.recv(1.1, "bob", "alice", 1)
    b.say(6.0, "alice", 2)
    b.recv(6.1, "bob", "alice", 2)
    b.say(7.0, "bob", 1)
    b.recv(7.1, "alice", "bob", 1)
    b.say(8.0, "alice", 3, "fail", queued=True)
    b.say(9.0, "bob", 2, "fail", queued=True)
    for seq, t in ((4, 10.0), (5, 11.0), (6, 12.0)):
        b.say(t, "alice", seq, "fail", error="chat_unavailable")  # refused, no DLQ id
    b.say(13.0, "bob", 3, "info", error="TimeoutError: ")
    b.say(16.0, "alice", 7)
    b.recv(16.2, "bob", "alice", 7)
    return b.drain(20.0)


def test_refused_and_unanswered_lines_are_counted_against_answers_and_acceptance() -> None:
    acceptance = run_checks(TEST, refusals_under_a_partition().ops, [], names=["acceptance"])["acceptance"]
    assert (acceptance["sent"], acceptance["answered"], acceptance["unanswered"]) == (10, 9, 1)
    assert acceptance["chat_answered_rate"] == pytest.approx(0.9)
    assert (acceptance["refused"], acceptance["queued"]) == (3, 2)
    assert acceptance["sent_during_faults"] == 8
    assert acceptance["accepted_during_faults"] == 4  # 2 ok + 2 queued
    assert acceptance["refused_during_faults"] == 3 and acceptance["unanswered_during_faults"] == 1
    assert acceptance["chat_accepted_during_faults"] == pytest.approx(0.5)
    assert acceptance["refusal_errors"] == {"chat_unavailable": 3}
    assert acceptance["valid"] is False
    # The delivery figures alone stay green: that is why these two exist.
    delivery = run_checks(TEST, refusals_under_a_partition().ops, [], names=["delivery"])["delivery"]
    assert delivery["message_delivery_rate"] == 1.0


def test_every_line_answered_and_queued_under_the_fault_is_valid() -> None:
    b = HistoryBuilder().connect(0.0, "alice", "bob").fault(5.0, 15.0)
    b.say(6.0, "alice", 1, "fail", queued=True)
    b.say(16.0, "alice", 2)
    b.recv(16.1, "bob", "alice", 2).drain(20.0)
    acceptance = run_checks(TEST, b.ops, [], names=["acceptance"])["acceptance"]
    assert acceptance["chat_answered_rate"] == 1.0 and acceptance["chat_accepted_during_faults"] == 1.0
    assert acceptance["valid"] is True


def test_only_players_of_the_faulted_server_count_as_under_the_fault() -> None:
    b = HistoryBuilder().connect(0.0, "alice", "bob", server="mythos-0")
    b.connect(0.0, "carol", server="mythos-1")
    b.fault(5.0, 15.0, params={"link": "nats-1"})
    for seq in range(1, 10):  # the healthy server's players chat on, all accepted
        b.say(5.0 + seq, "alice", seq)
    b.say(6.0, "carol", 1, "fail", error="chat_unavailable")
    b.drain(20.0)
    acceptance = run_checks(TWO_SERVERS, b.ops, [], names=["acceptance"])["acceptance"]
    assert acceptance["sent_during_faults"] == 1
    assert acceptance["chat_accepted_during_faults"] == 0.0


def test_a_line_that_never_left_the_client_is_unsent_not_unanswered() -> None:
    b = HistoryBuilder().connect(0.0, "alice", "bob")
    b.say(1.0, "alice", 1)
    b.recv(1.1, "bob", "alice", 1)
    b.say(2.0, "alice", 2, "info", error="not connected")
    acceptance = run_checks(TEST, b.drain(5.0).ops, [], names=["acceptance"])["acceptance"]
    assert (acceptance["sent"], acceptance["unsent"], acceptance["chat_answered_rate"]) == (1, 1, 1.0)


def test_a_nats_fault_without_any_line_said_under_it_is_unknown() -> None:
    b = HistoryBuilder().connect(0.0, "alice", "bob").fault(5.0, 6.0)
    b.say(1.0, "alice", 1)
    acceptance = run_checks(TEST, b.drain(8.0).ops, [], names=["acceptance"])["acceptance"]
    assert acceptance["valid"] == "unknown"
    assert acceptance["chat_accepted_during_faults"] is None


# ------------------------------------------------------------------ 3. recovery per server


def cut_server_recovers_late() -> HistoryBuilder:
    """two_mythos_partition as landed: mythos-0's players chat on; mythos-1's hear nothing for 6 s."""
    b = HistoryBuilder().connect(0.0, "alice", "bob", server="mythos-0")
    b.connect(0.0, "carol", "dave", server="mythos-1")
    b.fault(5.0, 15.0, params={"link": "nats-1"})
    b.say(15.1, "alice", 1)
    b.recv(15.2, "bob", "alice", 1)  # the healthy server at once
    b.say(16.0, "alice", 2)
    b.recv(16.1, "bob", "alice", 2)
    b.recv(21.0, "carol", "alice", 1).recv(21.0, "dave", "alice", 1)  # the cut server 6 s after the heal
    b.recv(21.1, "carol", "alice", 2).recv(21.1, "dave", "alice", 2)
    return b.drain(25.0)


def test_recovery_is_measured_from_the_players_of_the_affected_server() -> None:
    recovery = run_checks(TWO_SERVERS, cut_server_recovers_late().ops, [], names=["recovery"])["recovery"]
    assert [(r["server"], r["recovery_s"]) for r in recovery["per_server"]] == [("mythos-1", pytest.approx(6.0))]
    assert recovery["nats_recovery_s"] == pytest.approx(6.0)
    assert recovery["valid"] is False  # KPIS.md: p95 <= 5 s per affected server


def test_a_fault_on_nats_itself_is_measured_on_every_server() -> None:
    b = HistoryBuilder().connect(0.0, "alice", server="mythos-0").connect(0.0, "carol", server="mythos-1")
    b.fault(2.0, 4.0, name="kill_nats", params={"service": "nats"})
    b.say(4.5, "alice", 1)
    b.recv(4.6, "carol", "alice", 1)
    b.say(5.0, "carol", 1)
    b.recv(5.5, "alice", "carol", 1)
    recovery = run_checks(TWO_SERVERS, b.drain(8.0).ops, [], names=["recovery"])["recovery"]
    assert {r["server"]: r["recovery_s"] for r in recovery["per_server"]} == {
        "mythos-0": pytest.approx(1.5), "mythos-1": pytest.approx(0.6)}


def test_an_affected_server_whose_players_never_hear_again_is_unrecovered() -> None:
    b = HistoryBuilder().connect(0.0, "alice", server="mythos-0").connect(0.0, "carol", server="mythos-1")
    b.fault(2.0, 4.0, params={"link": "nats-1"})
    b.say(5.0, "alice", 1)  # carol is an expected recipient but never gets it
    recovery = run_checks(TWO_SERVERS, b.drain(8.0).ops, [], names=["recovery"])["recovery"]
    assert recovery["unrecovered"] == ["w1@mythos-1"] and recovery["valid"] is False


def test_players_on_unknown_servers_leave_a_multi_server_recovery_unmeasured() -> None:
    b = HistoryBuilder().connect(0.0, "alice", "carol").fault(2.0, 4.0, params={"link": "nats-1"})
    b.say(5.0, "alice", 1)
    b.recv(5.1, "carol", "alice", 1)
    recovery = run_checks(TWO_SERVERS, b.drain(8.0).ops, [], names=["recovery"])["recovery"]
    assert recovery["nats_recovery_s"] is None and recovery["valid"] == "unknown"


# ------------------------------------------------------------------ 4. tokens match exactly


def test_a_token_quoted_in_a_dlq_body_is_not_that_line() -> None:
    b = HistoryBuilder().connect(0.0, "alice", "bob")
    b.say(1.0, "alice", 1)
    b.drain(5.0)
    quoted = [dlq_entry("bob", 7, content="did you see msg_alice_1 ?"),
              {"id": "x", "message_data": {"content": "hello"}, "error": "lost msg_alice_1"},
              dlq_entry("bob", 8, content="msg_alice_1")]  # alice's token, but bob said it
    assert [m.status for m in classify_messages(TEST, b.ops, quoted)] == ["lost"]
    assert [m.status for m in classify_messages(TEST, b.ops, [dlq_entry("alice", 1)])] == ["dead_lettered"]


# ------------------------------------------------------------------ 5. the DLQ after the replay


def queued_then_replayed(*, left: list[dict[str, Any]] | None, resend: bool = False,
                         second: bool = True) -> HistoryBuilder:
    """alice's line 2 was refused and queued, then the admin replay delivered it to both players."""
    b = HistoryBuilder().connect(0.0, "alice", "bob")
    b.say(1.0, "alice", 1)
    b.recv(1.1, "bob", "alice", 1)
    b.say(2.0, "alice", 2, "fail", queued=True)
    b.drain(5.0)
    b.replay(6.0, replayed=1)
    b.recv(6.2, "alice", "alice", 2).recv(6.2, "bob", "alice", 2)
    if left is not None:
        b.dlq_read(7.0, left)
    if second:
        b.replay(7.5, round_=2, replayed=len(left or []))
        if resend:
            b.recv(7.7, "bob", "alice", 2)
        b.dlq_read(9.5, [], phase="after_second_replay")
    return b.disconnect(10.0, "alice").disconnect(10.0, "bob")


QUEUED = [dlq_entry("alice", 2)]


def test_a_replay_that_delivers_but_leaves_its_entry_behind_is_refused() -> None:
    b = queued_then_replayed(left=[dlq_entry("alice", 2)], resend=True)
    settled = run_checks(TEST, b.ops, QUEUED, names=["replay_settled"])["replay_settled"]
    assert settled["valid"] is False
    assert settled["residue"][0]["token"] == "msg_alice_2"
    assert "counts no failed replay attempt" in settled["residue"][0]["reasons"]
    assert any("delivered by the replay" in r for r in settled["residue"][0]["reasons"])
    assert settled["resent"] == [{"player": "bob", "token": "msg_alice_2", "t": 7.7}]
    # The replay checker alone is satisfied: the lines did land.
    assert run_checks(TEST, b.ops, QUEUED, names=["replay"])["replay"]["valid"] is True


def test_a_clean_replay_and_a_silent_second_replay_are_valid() -> None:
    b = queued_then_replayed(left=[])
    settled = run_checks(TEST, b.ops, QUEUED, names=["replay_settled"])["replay_settled"]
    assert settled["valid"] is True, settled
    assert (settled["entries_before"], settled["entries_after"]) == (1, 0)


def test_a_second_replay_that_resends_is_refused_even_with_an_empty_dlq() -> None:
    b = queued_then_replayed(left=[], resend=True)
    settled = run_checks(TEST, b.ops, QUEUED, names=["replay_settled"])["replay_settled"]
    assert settled["valid"] is False and settled["problems"] == ["the second replay delivered 1 lines again"]


def test_only_lines_that_failed_again_with_a_reason_may_stay() -> None:
    b = HistoryBuilder().connect(0.0, "alice", "bob")
    b.say(2.0, "alice", 2, "fail", queued=True)
    b.say(3.0, "alice", 3, "fail", queued=True)
    b.drain(5.0).replay(6.0, replayed=1)
    b.recv(6.2, "alice", "alice", 2).recv(6.2, "bob", "alice", 2)
    failed_again = dlq_entry("alice", 3, error="replay failed: TimeoutError()", replay_attempts=1)
    no_reason = {**dlq_entry("alice", 3, replay_attempts=1), "error": ""}
    b.dlq_read(7.0, [failed_again]).replay(7.5, round_=2)
    ok = run_checks(TEST, b.ops, [dlq_entry("alice", 2), dlq_entry("alice", 3)], names=["replay_settled"])
    assert ok["replay_settled"]["valid"] is True and ok["replay_settled"]["failed_again"] == ["msg_alice_3"]
    b.dlq_read(7.1, [no_reason])  # the last read wins
    bad = run_checks(TEST, b.ops, [dlq_entry("alice", 2), dlq_entry("alice", 3)], names=["replay_settled"])
    assert bad["replay_settled"]["residue"][0]["reasons"] == ["has no reason"]


def test_a_replay_whose_dlq_was_never_read_again_is_unknown() -> None:
    settled = run_checks(TEST, queued_then_replayed(left=None).ops, QUEUED, names=["replay_settled"])
    assert settled["replay_settled"]["valid"] == "unknown"
    no_second = queued_then_replayed(left=[], second=False)
    assert run_checks(TEST, no_second.ops, QUEUED, names=["replay_settled"])["valid"] == "unknown"


def test_nothing_queued_and_nothing_replayed_is_vacuous() -> None:
    b = HistoryBuilder().connect(0.0, "alice", "bob").drain(3.0)
    assert run_checks(TEST, b.ops, [], names=["replay_settled"])["replay_settled"]["valid"] is True


def test_history_vocabulary_has_the_dlq_read() -> None:
    b = queued_then_replayed(left=[])
    reads = [op for op in b.ops if op.f == F.DLQ]
    assert [op.value["phase"] for op in reads] == ["after_replay", "after_second_replay"]
    assert all(op.process != NEMESIS for op in reads)


def test_a_second_line_sent_before_the_first_is_answered_keeps_both_answers() -> None:
    """A player may have two lines in flight; each answer belongs to its own token. Pairing by
    "the process's last invoke" called the first line unanswered (seen in a nats_kill run)."""
    h = HistoryBuilder().connect(0.0, "alice", "bob")
    first = {"token": "msg_alice_1", "seq": 1, "room": "arkham_square"}
    second = {"token": "msg_alice_2", "seq": 2, "room": "arkham_square"}
    h.op(1.0, "invoke", "alice", F.SAY, first)
    h.op(1.1, "invoke", "alice", F.SAY, second)
    h.op(1.2, "ok", "alice", F.SAY, first)
    h.op(1.3, "ok", "alice", F.SAY, second)
    messages = {m.token: m for m in classify_messages({}, h.ops, [])}
    assert messages["msg_alice_1"].answered and messages["msg_alice_2"].answered
    assert messages["msg_alice_1"].outcome == "ok" and messages["msg_alice_2"].outcome == "ok"
