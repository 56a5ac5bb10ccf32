"""JetStreamChat hands lines over in stream-sequence order: a line fetched through a connection
being retired comes back only after ack_wait, and the lines the live binding fetched meanwhile
must wait for it (seen in nats_rolling_restart as per-sender reordering)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from mythos.realtime.circuit_breaker import CircuitBreakerOpen
from mythos.realtime.jetstream import JetStreamChat, StreamSpec


class SeqMsg:
    """A fetched message with its stream sequence, as nats-py's Msg.metadata gives it."""

    def __init__(self, seq: int) -> None:
        self.headers = {"Nats-Msg-Id": f"m{seq}"}
        self.data = str(seq).encode()  # a JSON number: the deliver fake reads it back
        self.subject = "chat.say.r1"
        self.metadata = SimpleNamespace(sequence=SimpleNamespace(stream=seq, consumer=seq))
        self.acked = 0
        self.naks = 0
        self.in_progress_calls = 0

    async def ack(self) -> None:
        self.acked += 1

    async def nak(self, delay: float | None = None) -> None:
        self.naks += 1

    async def in_progress(self) -> None:
        self.in_progress_calls += 1


class ScriptedSub:
    def __init__(self, batches: list[list[SeqMsg]]) -> None:
        self.batches = batches

    async def fetch(self, batch: int, timeout: float) -> list[SeqMsg]:
        await asyncio.sleep(0.01)
        if not self.batches:
            raise TimeoutError
        return self.batches.pop(0)

    async def unsubscribe(self) -> None:
        return None


class FakeJS:
    def __init__(self, sub: ScriptedSub) -> None:
        self.sub = sub

    async def stream_info(self, _name: str) -> None:
        return None

    async def update_stream(self, _config: Any) -> None:
        return None

    async def pull_subscribe(self, *_args: Any, **_kwargs: Any) -> ScriptedSub:
        return self.sub


class FakeNC:
    def __init__(self, sub: ScriptedSub) -> None:
        self.is_connected = True
        self.js = FakeJS(sub)

    def jetstream(self, timeout: float) -> FakeJS:
        return self.js


async def eventually(predicate: Any, within: float = 5.0) -> bool:
    for _ in range(int(within / 0.01)):
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return bool(predicate())


async def run(
    batches: list[list[SeqMsg]], spec: StreamSpec, fail_once: set[int] | None = None
) -> tuple[JetStreamChat, list[int]]:
    delivered: list[int] = []
    failing = set(fail_once or ())

    async def deliver(data: bytes, _subject: str) -> None:
        seq = int(data)
        if seq in failing:
            failing.discard(seq)
            raise CircuitBreakerOpen(retry_after=0.0)
        delivered.append(seq)

    chat = JetStreamChat("order", spec)
    await chat.start_consumer(deliver)
    await chat.bind(FakeNC(ScriptedSub(batches)))  # type: ignore[arg-type]
    return chat, delivered


async def test_a_redelivered_earlier_line_is_handed_over_before_the_later_ones() -> None:
    one, two, three, four = SeqMsg(1), SeqMsg(2), SeqMsg(3), SeqMsg(4)
    # 2 went out through the retired connection; 3 and 4 reach the live one first, 2 comes back.
    chat, delivered = await run([[one], [three, four], [], [], [two]], StreamSpec(fetch_timeout_s=0.05))
    try:
        assert await eventually(lambda: len(delivered) == 4)
        assert delivered == [1, 2, 3, 4]
        assert all(m.acked == 1 for m in (one, two, three, four))
        assert three.in_progress_calls >= 1  # held lines keep their ack timer from running out
        assert chat.lines_held == 2
        assert chat.gaps_skipped == 0
    finally:
        await chat.stop()


async def test_a_gap_that_never_fills_is_skipped_after_the_bounded_hold() -> None:
    one, three = SeqMsg(1), SeqMsg(3)
    spec = StreamSpec(fetch_timeout_s=0.05, reorder_hold_s=0.3)
    chat, delivered = await run([[one, three]], spec)
    try:
        assert await eventually(lambda: delivered == [1])
        await asyncio.sleep(0.1)
        assert delivered == [1]  # 3 waits for 2 ...
        assert await eventually(lambda: delivered == [1, 3], within=2.0)  # ... but not forever
        assert three.acked == 1
        assert chat.gaps_skipped == 1
    finally:
        await chat.stop()


async def test_a_line_whose_fan_out_failed_holds_back_the_lines_after_it() -> None:
    one, two, three = SeqMsg(1), SeqMsg(2), SeqMsg(3)
    again = SeqMsg(2)
    chat, delivered = await run([[one, two, three], [again]], StreamSpec(fetch_timeout_s=0.05), fail_once={2})
    try:
        assert await eventually(lambda: len(delivered) == 3)
        assert delivered == [1, 2, 3]
        assert two.naks == 1 and again.acked == 1 and three.acked == 1
    finally:
        await chat.stop()


async def test_an_already_delivered_redelivery_is_dropped_and_does_not_stall_order() -> None:
    one, two, three = SeqMsg(1), SeqMsg(2), SeqMsg(3)
    chat, delivered = await run([[one, two], [SeqMsg(1)], [three]], StreamSpec(fetch_timeout_s=0.05))
    try:
        assert await eventually(lambda: len(delivered) == 3)
        assert delivered == [1, 2, 3]
        assert chat.duplicates_dropped == 1
    finally:
        await chat.stop()


async def test_the_durable_copy_waits_for_a_live_fan_out_in_flight_and_then_drops_as_duplicate() -> None:
    one = SeqMsg(1)
    handed: list[Any] = []
    chat, delivered = await run([], StreamSpec(fetch_timeout_s=0.05))

    async def note(headers: Any, body: Any) -> None:
        handed.append(headers)

    chat.on_handed_over = note
    try:
        with chat.claims.hold("m1"):
            processing = asyncio.create_task(chat._process(one))  # type: ignore[arg-type]
            await asyncio.sleep(0.05)
            assert not processing.done()  # waits for the live path's verdict
            chat.dedup.add("m1")  # the live path handed it over
        await processing
        assert delivered == [] and one.acked == 1 and chat.duplicates_dropped == 1
        assert handed == [{"Nats-Msg-Id": "m1"}]
    finally:
        await chat.stop()
