"""The outbox: a server drains its own dead-lettered chat once NATS takes it again, in order and
with the original message ids; lines older than CHAT_OUTBOX_MAX_AGE stay for the operators and
their senders are told. A real DLQ on disk; the publish, the readiness and the clock are injected."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mythos.realtime.circuit_breaker import CircuitBreaker
from mythos.realtime.dead_letter_queue import DeadLetterQueue
from mythos.realtime.outbox import EXPIRED, Outbox
from mythos.realtime.publish_guard import PublishGuard
from mythos.realtime.retry import NATSRetryHandler, RetryConfig

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0.timestamp()

    def __call__(self) -> float:
        return self.now


class Stream:
    """A JetStream publish that records (subject, message_id) and can be told to fail."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str]] = []
        self.bodies: list[dict[str, Any]] = []
        self.fail_at: int | None = None

    async def __call__(self, subject: str, body: dict[str, Any]) -> None:
        if self.fail_at is not None and len(self.published) == self.fail_at:
            raise TimeoutError("no ack")
        self.published.append((subject, body["message_id"]))
        self.bodies.append(body)


def line(message_id: str, said_at: datetime, sender: int = 1, content: str = "hi") -> dict[str, Any]:
    return {"message_id": message_id, "sender_id": sender, "sender_name": f"p{sender}", "channel": "say",
            "content": content, "timestamp": said_at.isoformat(), "room_id": "hall", "_subject": "chat.say.hall"}


async def queue(dlq: DeadLetterQueue, ids: list[str], origin: str | None = "srv-a",
                said_at: datetime = T0) -> None:
    for i, message_id in enumerate(ids):
        await dlq.enqueue(line(message_id, said_at + timedelta(milliseconds=i)), ConnectionError("NATS link down"),
                          0, origin=origin)


def outbox(dlq: DeadLetterQueue, stream: Stream, clock: Clock, *, ready: bool = True, max_age_s: float = 120.0,
           notices: list[tuple[dict[str, Any], float]] | None = None) -> Outbox:
    def notify(message: dict[str, Any], age_s: float) -> None:
        if notices is not None:
            notices.append((message, age_s))

    return Outbox(dlq, "srv-a", stream, ready=lambda: ready, max_age_s=max_age_s, notify=notify, clock=clock)


async def test_drains_its_own_lines_in_order_with_their_message_ids(tmp_path: Path) -> None:
    dlq, stream, clock = DeadLetterQueue(tmp_path), Stream(), Clock()
    ids = [f"m{i:02d}" for i in range(12)][::-1]  # ids sort the other way round from the queue order
    await queue(dlq, ids)
    clock.now += 30
    report = await outbox(dlq, stream, clock).drain()
    assert [mid for _, mid in stream.published] == ids
    assert {subject for subject, _ in stream.published} == {"chat.say.hall"}
    assert all("_subject" not in body for body in stream.bodies)
    assert (report.sent, report.expired, report.left) == (12, 0, 0)
    assert await dlq.get_pending_count() == 0


async def test_never_drains_another_servers_lines_nor_untagged_entries(tmp_path: Path) -> None:
    dlq, stream, clock = DeadLetterQueue(tmp_path), Stream(), Clock()
    await queue(dlq, ["mine"])
    await queue(dlq, ["theirs"], origin="srv-b")
    await queue(dlq, ["operator"], origin=None)  # a consume-side dead letter, or an old entry
    report = await outbox(dlq, stream, clock).drain()
    assert stream.published == [("chat.say.hall", "mine")]
    assert report.sent == 1
    assert sorted(e.id for e in await dlq.list()) == ["operator", "theirs"]


async def test_a_line_older_than_the_limit_is_kept_and_its_sender_told_once(tmp_path: Path) -> None:
    dlq, stream, clock = DeadLetterQueue(tmp_path), Stream(), Clock()
    notices: list[tuple[dict[str, Any], float]] = []
    await queue(dlq, ["old"], said_at=T0)
    await queue(dlq, ["young"], said_at=T0 + timedelta(seconds=100))
    clock.now += 121
    box = outbox(dlq, stream, clock, notices=notices)
    report = await box.drain()
    assert stream.published == [("chat.say.hall", "young")]
    assert (report.sent, report.expired) == (1, 1)
    assert [(m["message_id"], round(age)) for m, age in notices] == [("old", 121)]
    kept = await dlq.get("old")
    assert kept is not None and kept.outbox == EXPIRED and kept.origin == "srv-a"
    clock.now += 60
    again = await box.drain()
    assert (again.sent, again.expired) == (0, 0)
    assert len(notices) == 1, "the sender was told twice"
    assert stream.published == [("chat.say.hall", "young")]


async def test_nothing_is_sent_while_nats_is_not_ready(tmp_path: Path) -> None:
    dlq, stream, clock = DeadLetterQueue(tmp_path), Stream(), Clock()
    await queue(dlq, ["a", "b"])
    report = await outbox(dlq, stream, clock, ready=False).drain()
    assert stream.published == [] and report.sent == 0 and report.stopped == "not ready"
    assert await dlq.get_pending_count() == 2


async def test_a_failed_publish_stops_the_drain_so_later_lines_cannot_overtake(tmp_path: Path) -> None:
    dlq, stream, clock = DeadLetterQueue(tmp_path), Stream(), Clock()
    await queue(dlq, ["a", "b", "c", "d"])
    stream.fail_at = 1
    box = outbox(dlq, stream, clock)
    first = await box.drain()
    assert [mid for _, mid in stream.published] == ["a"]
    assert (first.sent, first.left) == (1, 3) and first.stopped is not None
    stream.fail_at = None
    second = await box.drain()
    assert [mid for _, mid in stream.published] == ["a", "b", "c", "d"]
    assert second.left == 0


async def test_a_limit_of_zero_leaves_everything_to_the_operators(tmp_path: Path) -> None:
    dlq, stream, clock = DeadLetterQueue(tmp_path), Stream(), Clock()
    notices: list[tuple[dict[str, Any], float]] = []
    await queue(dlq, ["a"])
    report = await outbox(dlq, stream, clock, max_age_s=0, notices=notices).drain()
    assert (stream.published, notices, report.stopped) == ([], [], "disabled")
    assert await dlq.get_pending_count() == 1


async def test_the_loop_drains_when_woken(tmp_path: Path) -> None:
    dlq, stream = DeadLetterQueue(tmp_path), Stream()
    ready = False
    box = Outbox(dlq, "srv-a", stream, ready=lambda: ready, max_age_s=120.0, poll_s=30.0)
    await queue(dlq, ["a", "b"], said_at=datetime.now(UTC))
    await box.start()
    try:
        await asyncio.sleep(0.05)
        assert stream.published == []
        ready = True
        box.wake()
        for _ in range(100):
            if len(stream.published) == 2:
                break
            await asyncio.sleep(0.02)
        assert [mid for _, mid in stream.published] == ["a", "b"]
    finally:
        await box.stop()


async def no_sleep(_delay: float) -> None:
    return None


async def test_the_publish_guard_tags_what_it_queues_with_its_server(tmp_path: Path) -> None:
    dlq = DeadLetterQueue(tmp_path)
    queued: list[str] = []

    async def down(subject: str, message: dict[str, Any]) -> None:
        raise TimeoutError("no ack")

    guard = PublishGuard(down, dlq, retry=NATSRetryHandler(RetryConfig(max_attempts=1), sleep=no_sleep),
                         breaker=CircuitBreaker(), origin="srv-a", on_queued=queued.append)
    result = await guard.publish("chat.say.hall", line("x", T0))
    now = await guard.dead_letter_now("chat.say.hall", line("y", T0), "NATS link down")
    assert (result.dlq_id, now.dlq_id) == ("x", "y")
    assert queued == ["x", "y"]
    assert {e.origin for e in await dlq.list()} == {"srv-a"}


@pytest.mark.parametrize("shape", ["new", "old"])
async def test_entries_without_an_origin_still_read(tmp_path: Path, shape: str) -> None:
    import json

    raw: dict[str, Any] = ({"id": "z", "timestamp": T0.isoformat(), "message": line("z", T0), "error": "e",
                            "error_type": "TimeoutError", "retry_count": 0} if shape == "new" else
                           {"id": "z", "message_data": line("z", T0), "created_at": T0.timestamp(),
                            "error": "TimeoutError()", "retry_count": 0})
    (tmp_path / "z.json").write_text(json.dumps(raw))
    entry = await DeadLetterQueue(tmp_path).get("z")
    assert entry is not None and entry.origin is None and entry.outbox is None


class SlowStream(Stream):
    """Acks after a pause, so publishes in flight overlap; records the most at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most = 0

    async def __call__(self, subject: str, body: dict[str, Any]) -> None:
        self.published.append((subject, body["message_id"]))  # the order they were written
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1


@pytest.mark.parametrize(("window", "most"), [(1, 1), (64, 64)])
async def test_lines_go_out_in_windows_in_queue_order(tmp_path: Path, window: int, most: int) -> None:
    dlq, stream, clock = DeadLetterQueue(tmp_path), SlowStream(), Clock()
    ids = [f"w{i:03d}" for i in range(100)][::-1]
    await queue(dlq, ids)
    box = Outbox(dlq, "srv-a", stream, ready=lambda: True, max_age_s=120.0, clock=clock, window=lambda: window)
    report = await box.drain()
    assert [mid for _, mid in stream.published] == ids
    assert (report.sent, report.left, stream.most) == (100, 0, most)
    assert await dlq.get_pending_count() == 0


async def test_the_operators_view_says_what_will_happen_to_each_entry(tmp_path: Path) -> None:
    from mythos.realtime.dlq_admin import entry_view

    dlq, clock = DeadLetterQueue(tmp_path), Clock()
    await queue(dlq, ["mine"], said_at=T0 + timedelta(seconds=100))
    await queue(dlq, ["old"], said_at=T0)
    await queue(dlq, ["orphan"], origin=None)
    clock.now += 121
    await outbox(dlq, Stream(), clock, ready=False).drain()  # marks "old" expired, sends nothing
    states = {e.id: (entry_view(e)["origin"], entry_view(e)["outbox"]) for e in await dlq.list()}
    assert states == {"mine": ("srv-a", "queued"), "old": ("srv-a", "expired"), "orphan": (None, "operator")}
