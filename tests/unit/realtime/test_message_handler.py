"""NATSMessageHandler: breaker -> retry -> fan-out; permanent errors to the DLQ at once; transient
errors retried; every failed message in the DLQ exactly once (the original enqueued twice and
let fan-out errors escape retry)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mythos.observability.metrics import MetricsCollector
from mythos.realtime.circuit_breaker import CircuitBreaker, CircuitBreakerOpen, CircuitState
from mythos.realtime.dead_letter_queue import DeadLetterQueue
from mythos.realtime.message_handler import (
    DedupCache,
    HandleOutcome,
    NATSMessageHandler,
    PermanentError,
    parse_message,
)
from mythos.realtime.retry import NATSRetryHandler, RetryConfig, is_permanent


def body(message_id: str = "m1", **extra: Any) -> dict[str, Any]:
    data = {
        "message_id": message_id,
        "sender_id": "p1",
        "sender_name": "Armitage",
        "channel": "say",
        "content": "the stars are right",
        "timestamp": "2026-01-01T00:00:00Z",
        "room_id": "arkham_001",
    }
    data.update(extra)
    return data


class FanOut:
    def __init__(self, failures: int = 0, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or ConnectionError("socket gone")
        self.calls = 0
        self.delivered: list[str] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        self.delivered.append(message["message_id"])


async def no_sleep(_delay: float) -> None:
    return None


class CountingDLQ(DeadLetterQueue):
    """The real DLQ, counting enqueue calls, to prove the handler enqueues once."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.enqueue_calls = 0

    async def enqueue(self, message_data: dict[str, Any], error: str | BaseException, retry_count: int) -> str:
        self.enqueue_calls += 1
        return await super().enqueue(message_data, error, retry_count)


def make(tmp_path: Path, fan_out: FanOut, attempts: int = 3, **kwargs: Any) -> NATSMessageHandler:
    return NATSMessageHandler(
        fan_out,
        CountingDLQ(tmp_path / "dlq"),
        retry=NATSRetryHandler(RetryConfig(max_attempts=attempts, base_delay=0.01), sleep=no_sleep),
        metrics=kwargs.pop("metrics", MetricsCollector()),
        **kwargs,
    )


async def test_processes_valid_message(tmp_path: Path) -> None:
    fan_out = FanOut()
    handler = make(tmp_path, fan_out)
    assert await handler.handle(json.dumps(body()).encode(), "chat.say.arkham_001") is HandleOutcome.PROCESSED
    assert fan_out.delivered == ["m1"]
    assert handler.metrics is not None
    assert handler.metrics.get_metrics()["nats"]["messages_processed"] == {"say": 1}


async def test_duplicate_is_delivered_once(tmp_path: Path) -> None:
    fan_out = FanOut()
    handler = make(tmp_path, fan_out)
    assert await handler.handle(body()) is HandleOutcome.PROCESSED
    assert await handler.handle(body()) is HandleOutcome.DUPLICATE
    assert fan_out.delivered == ["m1"]


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", json.dumps({"message_id": "m9", "channel": "say"}).encode(), {"content": 5}],
)
async def test_permanent_errors_go_to_dlq_without_retry(tmp_path: Path, raw: Any) -> None:
    fan_out = FanOut()
    handler = make(tmp_path, fan_out)
    assert await handler.handle(raw, "chat.say.r1") is HandleOutcome.DEAD_LETTERED
    assert fan_out.calls == 0
    dlq = handler.dlq
    assert isinstance(dlq, CountingDLQ)
    assert dlq.enqueue_calls == 1
    [entry] = await dlq.list()
    assert entry.retry_count == 0


async def test_permanent_error_raised_by_fan_out_is_not_retried(tmp_path: Path) -> None:
    fan_out = FanOut(failures=10, error=PermanentError("room unknown"))
    handler = make(tmp_path, fan_out)
    assert await handler.handle(body()) is HandleOutcome.DEAD_LETTERED
    assert fan_out.calls == 1
    assert handler.breaker.failure_count == 0  # bad input does not trip the breaker


async def test_transient_fan_out_error_is_retried_inside_retry(tmp_path: Path) -> None:
    """The original let fan-out exceptions escape retry; here the second attempt delivers."""
    fan_out = FanOut(failures=2)
    handler = make(tmp_path, fan_out, attempts=3)
    assert await handler.handle(body()) is HandleOutcome.PROCESSED
    assert fan_out.calls == 3
    assert fan_out.delivered == ["m1"]
    assert await handler.dlq.get_pending_count() == 0
    metrics = handler.metrics
    assert metrics is not None
    assert metrics.get_metrics()["nats"]["messages_failed"] == {"say": 2}


async def test_exhausted_message_is_dead_lettered_exactly_once(tmp_path: Path) -> None:
    fan_out = FanOut(failures=100)
    handler = make(tmp_path, fan_out, attempts=3)
    assert await handler.handle(body()) is HandleOutcome.DEAD_LETTERED
    assert fan_out.calls == 3
    dlq = handler.dlq
    assert isinstance(dlq, CountingDLQ)
    assert dlq.enqueue_calls == 1
    [entry] = await dlq.list()
    assert entry.retry_count == 3 and "socket gone" in entry.error
    # a redelivery of the same message (ack lost) still leaves one entry
    assert await handler.handle(body()) is HandleOutcome.DEAD_LETTERED
    assert await dlq.get_pending_count() == 1
    snapshot = handler.metrics.get_metrics()["nats"] if handler.metrics else {}
    assert snapshot["dlq_depth"] == 1


async def test_exhaustion_counts_once_against_breaker_and_open_breaker_dead_letters(tmp_path: Path) -> None:
    metrics = MetricsCollector()
    breaker = CircuitBreaker(failure_threshold=2, timeout=timedelta(seconds=60), excluded=is_permanent)
    fan_out = FanOut(failures=100)
    handler = make(tmp_path, fan_out, attempts=3, breaker=breaker, metrics=metrics)
    await handler.handle(body("a"))
    assert breaker.failure_count == 1  # three attempts, one breaker failure
    await handler.handle(body("b"))
    assert breaker.state is CircuitState.OPEN
    assert metrics.get_metrics()["nats"]["circuit_breaker_state"] == "open"
    calls = fan_out.calls
    assert await handler.handle(body("c")) is HandleOutcome.DEAD_LETTERED
    assert fan_out.calls == calls  # not even tried
    entry = await handler.dlq.get("c")
    assert entry is not None and entry.error.startswith("circuit breaker open")
    assert entry.error_type == "CircuitBreakerOpen"
    assert await handler.dlq.get_pending_count() == 3


async def test_open_breaker_raises_for_redelivering_transports(tmp_path: Path) -> None:
    breaker = CircuitBreaker(failure_threshold=1, timeout=timedelta(seconds=60), excluded=is_permanent)
    handler = make(tmp_path, FanOut(failures=100), attempts=1, breaker=breaker, dlq_when_open=False)
    await handler.handle(body("a"))
    with pytest.raises(CircuitBreakerOpen):
        await handler.handle(body("b"))
    assert await handler.dlq.get("b") is None


def test_dedup_cache_is_bounded_lru() -> None:
    cache = DedupCache(capacity=2)
    assert cache.add("a") and cache.add("b")
    assert not cache.add("a")  # refreshes a
    assert cache.add("c")  # evicts b
    assert "a" in cache and "c" in cache and "b" not in cache
    assert len(cache) == 2
    cache.discard("a")
    assert "a" not in cache


def test_parse_message_requires_fields() -> None:
    assert parse_message(json.dumps(body())) == body()
    with pytest.raises(PermanentError, match="message_id and content"):
        parse_message({**body(), "message_id": 5})
