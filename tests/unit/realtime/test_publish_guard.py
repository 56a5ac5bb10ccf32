"""PublishGuard: retry through the breaker; exhausted or refused messages land in the DLQ once
and the sender gets a plain answer."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from mythos.observability.metrics import MetricsCollector
from mythos.realtime.circuit_breaker import CircuitBreaker, CircuitState
from mythos.realtime.dead_letter_queue import DeadLetterQueue
from mythos.realtime.publish_guard import PublishGuard
from mythos.realtime.retry import NATSRetryHandler, RetryConfig


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
    assert entry.message_data["_subject"] == "chat.say.r1"
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
    assert (result.sent, result.reason) == (False, "circuit breaker open")
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
