"""The outbox checker: chat_delivered_after_outage and outbox_drain_s from a recorded history, and
a drained line counted as accounted for in the DLQ. Each verdict has a known-bad history beside it."""

from __future__ import annotations

from typing import Any

from harness.checker import delivery, outbox
from tests.unit.harness.builders import HistoryBuilder, dlq_entry

TEST: dict[str, Any] = {"echo_to_sender": True, "topology": {"mythos": 1, "mythos_env": {}}}


def short_limit(seconds: float) -> dict[str, Any]:
    return {**TEST, "topology": {"mythos": 1, "mythos_env": {"CHAT_OUTBOX_MAX_AGE": str(seconds)}}}


def outage(drained: bool = True, heal: float = 20.0) -> tuple[HistoryBuilder, list[str]]:
    """alice and bob in one room; alice's lines 10 s..19 s are queued; heal at ``heal``."""
    h = HistoryBuilder().connect(0.0, "alice", "bob", server="mythos-0")
    h.fault(10.0, heal)
    tokens = []
    for seq in range(10):
        tokens.append(h.say(10.0 + seq, "alice", seq, "fail", queued=True))
        if drained:
            for who in ("alice", "bob"):
                h.recv(heal + 0.5 + 0.1 * seq, who, "alice", seq)
    h.drain(40.0)
    return h, tokens


def test_lines_queued_in_an_outage_and_sent_after_the_heal_are_delivered() -> None:
    h, _ = outage()
    result = outbox(TEST, h.ops, [])
    print(result)
    assert result["valid"] is True and result["applicable"] is True
    assert (result["due"], result["delivered_after_outage"]) == (10, 10)
    assert result["chat_delivered_after_outage"] == 1.0
    assert abs(result["outbox_drain_s"] - 1.4) < 1e-9  # heal at 20, last line seen by both at 21.4
    assert result["windows"][0]["lines"] == 10


def test_known_bad_queued_lines_left_for_an_operator_are_not_delivered_after_the_outage() -> None:
    h, _ = outage(drained=False)
    h.replay(45.0)
    for seq in range(10):  # only the admin replay brings them
        for who in ("alice", "bob"):
            h.recv(45.5, who, "alice", seq)
    result = outbox(TEST, h.ops, [dlq_entry("alice", s) for s in range(10)])
    assert result["valid"] is False
    assert result["chat_delivered_after_outage"] == 0.0 and result["outbox_drain_s"] is None


def test_a_drain_slower_than_the_spec_fails() -> None:
    h = HistoryBuilder().connect(0.0, "alice", "bob")
    h.fault(10.0, 20.0)
    h.say(12.0, "alice", 0, "fail", queued=True)
    h.recv(31.0, "alice", "alice", 0).recv(31.0, "bob", "alice", 0).drain(40.0)
    result = outbox(TEST, h.ops, [])
    assert result["outbox_drain_s"] == 11.0 and result["valid"] is False


def test_lines_older_than_the_limit_stay_for_the_operator() -> None:
    h = HistoryBuilder().connect(0.0, "alice", "bob")
    h.fault(10.0, 20.0)
    h.say(10.0, "alice", 0, "fail", queued=True)  # 10 s old at the heal: over a 5 s limit
    h.say(13.5, "alice", 1, "fail", queued=True)  # 6.5 s: over
    h.say(16.0, "alice", 2, "fail", queued=True)  # 4 s: inside the grace before the limit, not judged
    h.say(18.5, "alice", 3, "fail", queued=True)  # 1.5 s: due
    for who in ("alice", "bob"):
        h.recv(20.5, who, "alice", 3)
    h.drain(40.0)
    stale_in_dlq = [dlq_entry("alice", 0), dlq_entry("alice", 1), dlq_entry("alice", 2)]
    result = outbox(short_limit(5), h.ops, stale_in_dlq)
    assert (result["due"], result["stale"], result["borderline"]) == (1, 2, 1)
    assert result["valid"] is True and result["chat_delivered_after_outage"] == 1.0
    # Known bad: the outbox sent a line older than its limit.
    for who in ("alice", "bob"):
        h.recv(20.6, who, "alice", 0)
    bad = outbox(short_limit(5), h.ops, stale_in_dlq[1:])
    assert bad["valid"] is False and bad["stale_sent"] == ["msg_alice_0"]


def test_no_queued_line_is_not_applicable() -> None:
    h = HistoryBuilder().connect(0.0, "alice", "bob")
    h.say(1.0, "alice", 0)
    h.recv(1.1, "bob", "alice", 0).recv(1.1, "alice", "alice", 0).drain(5.0)
    result = outbox(TEST, h.ops, [])
    assert result["valid"] is True and result["applicable"] is False
    assert result["chat_delivered_after_outage"] is None


def test_a_drained_line_counts_as_accounted_for_in_the_dlq() -> None:
    h, _ = outage()
    result = delivery(TEST, h.ops, [])
    assert result["dlq_expected"] == 10 and result["dlq_accounted"] == 1.0
    assert result["drained"] == 10


def test_known_bad_a_queued_line_neither_in_the_dlq_nor_delivered_is_not_accounted() -> None:
    h, _ = outage(drained=False)
    result = delivery(TEST, h.ops, [])
    assert result["dlq_accounted"] == 0.0 and result["drained"] == 0


def test_a_drained_line_nobody_stayed_connected_for_counts_when_a_player_saw_it() -> None:
    """Players evicted and back (nats_halfopen_disconnect): no recipient is expected, but the line
    reached the room, so it left the DLQ by delivery; one nobody saw did not."""
    h = HistoryBuilder().connect(0.0, "alice", "bob")
    h.fault(1.0, 5.0)
    h.say(2.0, "alice", 1, "fail", queued=True)
    h.say(2.5, "alice", 2, "fail", queued=True)
    h.recv(4.0, "bob", "alice", 1)
    h.disconnect(6.0, "bob").connect(6.5, "bob").disconnect(6.0, "alice").connect(6.5, "alice")
    result = delivery(TEST, h.drain(8.0).ops, [])
    assert (result["drained"], result["dlq_expected"]) == (1, 2)
    assert result["dlq_missing_tokens"] == ["msg_alice_2"]
