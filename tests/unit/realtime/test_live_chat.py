"""LiveChat hands core-NATS copies over at once, exactly once beside the JetStream copy, and in
per-sender order when a live copy was lost (its predecessor then comes by JetStream)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mythos.realtime.live_chat import ORIGIN_HEADER, SEQ_HEADER, DeliveryClaims, LiveChat
from mythos.realtime.message_handler import DedupCache


class LiveMsg:
    def __init__(self, headers: dict[str, str], body: dict[str, Any]) -> None:
        self.headers = headers
        self.data = json.dumps(body).encode()
        self.subject = "live.chat.say.r1"


def line(n: int, sender: str = "7") -> dict[str, Any]:
    return {"message_id": f"m{n}", "sender_id": sender, "channel": "say", "content": str(n)}


def receiver(hold_s: float = 5.0) -> tuple[LiveChat, list[str]]:
    got: list[str] = []

    async def fan_out(body: dict[str, Any]) -> None:
        got.append(body["message_id"])

    return LiveChat("rx", fan_out, DedupCache(), DeliveryClaims(), hold_s=hold_s), got


def stamped(sender: LiveChat, n: int) -> tuple[dict[str, str], dict[str, Any]]:
    body = line(n)
    return sender.stamp(body), body


async def test_a_live_line_is_handed_over_once_and_its_durable_copy_only_advances_order() -> None:
    tx, _ = receiver()
    rx, got = receiver()
    headers, body = stamped(tx, 1)
    await rx._on_msg(LiveMsg(headers, body))  # type: ignore[arg-type]
    await rx._on_msg(LiveMsg(headers, body))  # type: ignore[arg-type]
    assert got == ["m1"]
    assert "m1" in rx.dedup and rx.duplicates_dropped == 1


async def test_a_lost_live_copy_holds_later_lines_until_its_durable_copy_is_handed_over() -> None:
    tx, _ = receiver()
    rx, got = receiver()
    first = stamped(tx, 1)
    lost = stamped(tx, 2)
    third = stamped(tx, 3)
    await rx._on_msg(LiveMsg(*first))  # type: ignore[arg-type]
    await rx._on_msg(LiveMsg(*third))  # type: ignore[arg-type]
    assert got == ["m1"]  # 3 waits: 2 is still out
    got.append("m2")  # the JetStream consumer fans 2 out, then tells the live path
    rx.dedup.add("m2")
    await rx.note_durable(*lost)
    assert got == ["m1", "m2", "m3"]
    assert rx.lines_held == 1 and rx.gaps_skipped == 0


async def test_a_gap_no_path_fills_is_skipped_after_the_hold() -> None:
    tx, _ = receiver()
    rx, got = receiver(hold_s=0.1)
    first, _lost, third = stamped(tx, 1), stamped(tx, 2), stamped(tx, 3)
    await rx._on_msg(LiveMsg(*first))  # type: ignore[arg-type]
    await rx._on_msg(LiveMsg(*third))  # type: ignore[arg-type]
    assert got == ["m1"]
    await asyncio.sleep(0.3)
    assert got == ["m1", "m3"] and rx.gaps_skipped == 1


async def test_a_retry_reuses_the_stamp_and_each_sender_has_its_own_sequence() -> None:
    tx, _ = receiver()
    a1 = tx.stamp(line(1, "a"))
    assert tx.stamp(line(1, "a")) == a1
    b1 = tx.stamp(line(2, "b"))
    a2 = tx.stamp(line(3, "a"))
    assert (a1[SEQ_HEADER], b1[SEQ_HEADER], a2[SEQ_HEADER]) == ("1", "1", "2")
    assert a1[ORIGIN_HEADER] == b1[ORIGIN_HEADER]


async def test_a_live_copy_arriving_while_the_durable_copy_is_fanned_out_is_left_to_it() -> None:
    rx, got = receiver()
    with rx.claims.hold("m1"):
        await rx._on_msg(LiveMsg({}, line(1)))  # type: ignore[arg-type]
    assert got == [] and rx.left_to_durable == 1


async def test_a_failed_live_fan_out_leaves_the_line_to_the_durable_copy() -> None:
    async def broken(_body: dict[str, Any]) -> None:
        raise OSError("socket gone")

    rx = LiveChat("rx", broken, DedupCache(), DeliveryClaims())
    await rx._on_msg(LiveMsg({}, line(1)))  # type: ignore[arg-type]
    assert "m1" not in rx.dedup and rx.fan_out_failures == 1


async def test_a_gap_is_held_while_the_durable_path_is_down_then_a_full_hold_after_it_is_back() -> None:
    """nats_node_partition (2026-12-01): the receiver's own node was cut off, so it lost the live
    copies of lines 53-73 while its consumer could not fetch them either; the link came back
    4.6 s after the heal and the consumer caught up after the 2 s hold had expired, so later live
    lines went first (85 reordered). A gap is not skipped while the durable path is down: the
    hold runs from when it is back."""
    tx, _ = receiver()
    up = False
    got: list[str] = []

    async def fan_out(body: dict[str, Any]) -> None:
        got.append(body["message_id"])

    rx = LiveChat("rx", fan_out, DedupCache(), DeliveryClaims(), hold_s=0.1, durable_ready=lambda: up)
    first, lost, third = stamped(tx, 1), stamped(tx, 2), stamped(tx, 3)
    await rx._on_msg(LiveMsg(*first))  # type: ignore[arg-type]
    await rx._on_msg(LiveMsg(*third))  # type: ignore[arg-type]
    await asyncio.sleep(0.35)  # three holds while the link is down
    assert got == ["m1"] and rx.gaps_skipped == 0
    up = True
    rx.durable_back()
    await asyncio.sleep(0.05)  # within the fresh hold the consumer hands 2 over
    got.append("m2")
    rx.dedup.add("m2")
    await rx.note_durable(*lost)
    assert got == ["m1", "m2", "m3"] and rx.gaps_skipped == 0


async def test_a_gap_held_for_the_durable_path_is_still_skipped_after_the_longest_hold() -> None:
    tx, _ = receiver()
    got: list[str] = []

    async def fan_out(body: dict[str, Any]) -> None:
        got.append(body["message_id"])

    rx = LiveChat("rx", fan_out, DedupCache(), DeliveryClaims(), hold_s=0.05, max_hold_s=0.2,
                  durable_ready=lambda: False)
    first, _lost, third = stamped(tx, 1), stamped(tx, 2), stamped(tx, 3)
    await rx._on_msg(LiveMsg(*first))  # type: ignore[arg-type]
    await rx._on_msg(LiveMsg(*third))  # type: ignore[arg-type]
    await asyncio.sleep(0.5)
    assert got == ["m1", "m3"] and rx.gaps_skipped == 1
