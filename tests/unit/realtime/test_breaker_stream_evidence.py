"""An open publish breaker probes as soon as the stream answers the consumer again.

nats_node_partition (2026-12-01): the game server whose NATS node was cut off opened its breaker;
failed probes grew its open time to the 5 s cap, so after the heal it waited up to 5 s more
before probing, and its queued lines drained 9.2-10.4 s after the heal against a 10 s spec. The
consumer fetching lines again is evidence the stream answers: the breaker probes then, at most
once per open period (a failed probe is not retried on the next fetch of the same period).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from mythos.realtime.circuit_breaker import FIRST_OPEN_TIMEOUT, CircuitState
from mythos.realtime.dead_letter_queue import DeadLetterQueue
from mythos.realtime.nats_link import LinkSettings
from mythos.realtime.reliable_chat import ReliableChat, ReliableChatParts
from mythos.realtime.retry import RetryConfig


async def _fan_out(_body: dict[str, Any]) -> None:
    return None


def _chat(tmp_path: Path) -> ReliableChat:
    parts = ReliableChatParts(link=LinkSettings(name="evidence"), publish_retry=RetryConfig(max_attempts=1),
                              consume_retry=RetryConfig(max_attempts=1), breaker_timeout_s=5.0)
    return ReliableChat("evidence", parts, DeadLetterQueue(tmp_path / "dlq"), _fan_out)


async def _fail(breaker: Any, times: int) -> None:
    async def boom() -> None:
        raise TimeoutError("nats: no response from stream")

    for _ in range(times):
        with contextlib.suppress(Exception):  # the failures are the point
            await breaker.call(boom)


async def _succeed(breaker: Any) -> None:
    async def ok() -> None:
        return None

    await breaker.call(ok)


async def test_an_open_breaker_probes_when_the_consumer_fetches_again(tmp_path: Path) -> None:
    chat = _chat(tmp_path)
    breaker = chat.publish_breaker
    await _fail(breaker, 5)
    assert breaker.state is CircuitState.OPEN
    assert chat.jetstream.on_fetched is not None
    await asyncio.sleep(FIRST_OPEN_TIMEOUT.total_seconds())
    chat.jetstream.on_fetched()
    assert breaker.state is CircuitState.HALF_OPEN  # not waiting out the open timeout
    await _succeed(breaker)
    await _succeed(breaker)
    assert breaker.state is CircuitState.CLOSED


async def test_evidence_probes_at_most_once_per_first_timeout(tmp_path: Path) -> None:
    chat = _chat(tmp_path)
    breaker = chat.publish_breaker
    await _fail(breaker, 5)
    assert chat.jetstream.on_fetched is not None
    chat.jetstream.on_fetched()  # opened a moment ago: a fetch right away is not a probe
    assert breaker.state is CircuitState.OPEN
    await asyncio.sleep(FIRST_OPEN_TIMEOUT.total_seconds())
    chat.jetstream.on_fetched()
    assert breaker.state is CircuitState.HALF_OPEN
    await _fail(breaker, 1)  # the probe failed: open again
    for _ in range(20):  # fetch after fetch while publishes still fail: no probe storm
        chat.jetstream.on_fetched()
    assert breaker.state is CircuitState.OPEN


async def test_a_closed_breaker_ignores_the_evidence(tmp_path: Path) -> None:
    chat = _chat(tmp_path)
    assert chat.jetstream.on_fetched is not None
    chat.jetstream.on_fetched()
    assert chat.publish_breaker.state is CircuitState.CLOSED


async def test_a_failed_evidence_probe_retries_soon_instead_of_at_the_grown_timeout(tmp_path: Path) -> None:
    """make verify 11:25: right after the heal the consumer fetched (evidence) but the stream
    did not take publishes yet; the failed probe re-opened the breaker for the grown 5 s, and
    the next failed again, so the outbox drained 10.3 s after the heal. Evidence restarts the
    backoff from the first timeout: a failed evidence probe waits 0.5 s, then 1 s, ..."""
    chat = _chat(tmp_path)
    breaker = chat.publish_breaker
    await _fail(breaker, 5)
    for _ in range(6):  # failed timeout probes grow the open time to its 5 s cap
        breaker.probe_now("test: a timeout probe")
        await _fail(breaker, 1)
    assert breaker.open_timeout == 5.0
    await asyncio.sleep(FIRST_OPEN_TIMEOUT.total_seconds())
    assert chat.jetstream.on_fetched is not None
    chat.jetstream.on_fetched()
    assert breaker.state is CircuitState.HALF_OPEN
    await _fail(breaker, 1)
    assert breaker.state is CircuitState.OPEN
    assert breaker.open_timeout == 2 * FIRST_OPEN_TIMEOUT.total_seconds()
