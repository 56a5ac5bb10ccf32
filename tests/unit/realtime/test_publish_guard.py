"""PublishGuard: retry through the breaker; exhausted or refused messages land in the DLQ once
and the sender gets a plain answer."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mythos.observability.metrics import MetricsCollector
from mythos.realtime.circuit_breaker import CircuitBreaker, CircuitState
from mythos.realtime.dead_letter_queue import DeadLetterQueue
from mythos.realtime.publish_guard import PublishGuard
from mythos.realtime.retry import NATSRetryHandler, RetryConfig, is_permanent


async def no_sleep(_delay: float) -> None:
    return None


class Publisher:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[str] = []

    async def __call__(self, subject: str, message: dict[str, Any]) -> str:
        self.calls.append(message["message_id"])
        if len(self.calls) <= self.failures:
            raise TimeoutError("no ack")
        return "acked"


def guard(tmp_path: Path, publisher: Publisher, threshold: int = 5) -> PublishGuard:
    return PublishGuard(
        publisher,
        DeadLetterQueue(tmp_path),
        retry=NATSRetryHandler(RetryConfig(max_attempts=3, base_delay=0.01), sleep=no_sleep),
        breaker=CircuitBreaker(failure_threshold=threshold, timeout=timedelta(seconds=30)),
        metrics=MetricsCollector(),
    )


def msg(message_id: str) -> dict[str, Any]:
    return {"message_id": message_id, "channel": "say", "content": "hi"}


async def test_sent_after_transient_failures(tmp_path: Path) -> None:
    publisher = Publisher(failures=2)
    g = guard(tmp_path, publisher)
    result = await g.publish("chat.say.r1", msg("m1"))
    assert result.sent and result.dlq_id is None and result.user_message is None
    assert publisher.calls == ["m1", "m1", "m1"]  # same message_id each time: the server dedups
    assert g.metrics is not None and g.metrics.get_metrics()["nats"]["publish_count"] == 1


async def test_exhausted_goes_to_dlq_once_with_subject_and_plain_answer(tmp_path: Path) -> None:
    g = guard(tmp_path, Publisher(failures=100))
    result = await g.publish("chat.say.r1", msg("m1"))
    assert not result.sent
    assert result.dlq_id == "m1"
    assert result.user_message and "saved" in result.user_message
    [entry] = await g.dlq.list()
    assert entry.message["_subject"] == "chat.say.r1"
    assert entry.retry_count == 3
    assert g.metrics is not None and g.metrics.get_metrics()["nats"]["dlq_depth"] == 1


async def test_open_breaker_refuses_without_calling_and_dead_letters(tmp_path: Path) -> None:
    publisher = Publisher(failures=100)
    g = guard(tmp_path, publisher, threshold=2)
    await g.publish("chat.say.r1", msg("a"))
    await g.publish("chat.say.r1", msg("b"))
    assert g.breaker.state is CircuitState.OPEN
    calls = len(publisher.calls)
    result = await g.publish("chat.say.r1", msg("c"))
    assert len(publisher.calls) == calls
    assert not result.sent and result.reason is not None and result.reason.startswith("circuit breaker open")
    assert result.retry_after is not None and result.retry_after > 0
    assert await g.dlq.get_pending_count() == 3


async def test_a_publish_that_hangs_past_the_deadline_is_dead_lettered_once(tmp_path: Path) -> None:
    """Every retry together is bounded, so the sender hears back before a client gives up."""

    async def hangs(subject: str, message: dict[str, Any]) -> str:
        await asyncio.sleep(3600)
        return "never"

    g = PublishGuard(
        hangs,
        DeadLetterQueue(tmp_path),
        retry=NATSRetryHandler(RetryConfig(max_attempts=3, base_delay=0.01), sleep=no_sleep),
        breaker=CircuitBreaker(failure_threshold=5, timeout=timedelta(seconds=30)),
        deadline_s=0.05,
    )
    result = await asyncio.wait_for(g.publish("chat.say.r1", msg("m1")), timeout=30)
    assert not result.sent
    assert result.reason is not None and "deadline of 0.05 s" in result.reason
    assert [e.id for e in await g.dlq.list()] == ["m1"]
    assert g.breaker.failure_count == 1  # the whole publish is one failure for the breaker


# Regressions (issue 12, items 1 and 3).


async def test_permanent_errors_do_not_count_towards_the_breaker(tmp_path: Path) -> None:
    """The breaker as ReliableChat builds it (excluded=is_permanent) must see the permanent error."""
    calls: list[str] = []

    async def bad_schema(subject: str, message: dict[str, Any]) -> str:
        calls.append(message["message_id"])
        raise ValueError("bad schema")

    g = PublishGuard(
        bad_schema,
        DeadLetterQueue(tmp_path),
        retry=NATSRetryHandler(RetryConfig(max_attempts=3, base_delay=0.01), sleep=no_sleep),
        breaker=CircuitBreaker(failure_threshold=5, timeout=timedelta(seconds=30), excluded=is_permanent),
    )
    for n in range(8):
        result = await g.publish("chat.say.r1", msg(f"m{n}"))
        assert not result.sent and result.dlq_id == f"m{n}"
    assert calls == [f"m{n}" for n in range(8)]  # permanent: one attempt each, no retries
    assert g.breaker.state is CircuitState.CLOSED and g.breaker.failure_count == 0
    entry = await g.dlq.get("m0")
    assert entry is not None and entry.error_type == "ValueError" and entry.error == "bad schema"


async def test_a_publish_cancelled_mid_flight_is_dead_lettered_once_and_frees_the_probe(tmp_path: Path) -> None:
    """A say whose task is cancelled (the WebSocket reader, on session eviction) while it is the
    half-open probe: the line lands in the DLQ once, the cancellation propagates, and the next
    publish is admitted as the probe instead of being refused for ever."""
    clock = [1000.0]
    started = asyncio.Event()
    hang = [True]

    async def publish(subject: str, message: dict[str, Any]) -> str:
        if hang[0]:
            started.set()
            await asyncio.Event().wait()
        return "acked"

    breaker = CircuitBreaker(failure_threshold=1, timeout=timedelta(seconds=5), clock=lambda: clock[0])
    g = PublishGuard(
        publish,
        DeadLetterQueue(tmp_path),
        retry=NATSRetryHandler(RetryConfig(max_attempts=1, base_delay=0.01), sleep=no_sleep),
        breaker=breaker,
        metrics=MetricsCollector(),
    )
    breaker.after_failure(ConnectionError("down"), breaker.before_call())
    clock[0] += 5
    assert breaker.state is CircuitState.HALF_OPEN
    task = asyncio.create_task(g.publish("chat.say.r1", msg("cancelled")))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [entry] = await g.dlq.list()
    assert entry.id == "cancelled" and entry.error_type == "CancelledError"
    assert g.metrics is not None and g.metrics.get_metrics()["nats"]["dlq_depth"] == 1
    hang[0] = False
    assert (await g.publish("chat.say.r1", msg("after"))).sent
    assert breaker.state is CircuitState.HALF_OPEN  # one probe success of two
    assert (await g.publish("chat.say.r1", msg("after-2"))).sent
    assert breaker.state is CircuitState.CLOSED


async def test_a_publish_cancelled_twice_still_dead_letters_the_line(tmp_path: Path) -> None:
    """A second cancel while the line is being dead-lettered must not lose it."""
    started = asyncio.Event()

    async def publish(subject: str, message: dict[str, Any]) -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    g = PublishGuard(publish, DeadLetterQueue(tmp_path), retry=NATSRetryHandler(RetryConfig(max_attempts=1)))
    task = asyncio.create_task(g.publish("chat.say.r1", msg("twice")))
    await started.wait()
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await g.drain()
    assert [e.id for e in await g.dlq.list()] == ["twice"]


class FullDiskQueue(DeadLetterQueue):
    """The real queue, on a disk that has no room left (the write itself fails with ENOSPC)."""

    async def enqueue(self, *args: Any, **kwargs: Any) -> str:
        raise OSError(28, "No space left on device")


async def test_a_line_that_can_be_neither_sent_nor_kept_is_refused_not_acknowledged(tmp_path: Path) -> None:
    g = PublishGuard(
        Publisher(failures=100),
        FullDiskQueue(tmp_path),
        retry=NATSRetryHandler(RetryConfig(max_attempts=2, base_delay=0.01), sleep=no_sleep),
        breaker=CircuitBreaker(failure_threshold=5, timeout=timedelta(seconds=30)),
        metrics=MetricsCollector(),
    )
    result = await g.publish("chat.say.r1", msg("m1"))
    assert not result.sent and result.dlq_id is None
    assert result.reason is not None and "No space left on device" in result.reason
