"""Publish path: retry with backoff, through the circuit breaker, and the DLQ when both give up.

The sender always gets a PublishResult: sent, or dead-lettered with a plain reason. Nothing is
dropped silently. Retrying is safe because the JetStream publish carries Nats-Msg-Id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mythos.observability.logging import get_logger
from mythos.observability.metrics import MetricsCollector
from mythos.realtime.circuit_breaker import CircuitBreaker, CircuitBreakerOpen
from mythos.realtime.dead_letter_queue import DeadLetterQueue
from mythos.realtime.retry import NATSRetryHandler

__all__ = ["PublishGuard", "PublishResult"]

log = get_logger(__name__)

PublishFn = Callable[[str, dict[str, Any]], Awaitable[Any]]
REFUSED_TEXT = "Chat is unavailable right now; your message was saved and will be resent."


@dataclass(frozen=True, slots=True)
class PublishResult:
    sent: bool
    message_id: str
    dlq_id: str | None = None
    reason: str | None = None
    retry_after: float | None = None

    @property
    def user_message(self) -> str | None:
        """What to tell the sender when the message was not sent."""
        return None if self.sent else REFUSED_TEXT


class _Failed(Exception):
    """Retries ran out; one failure for the breaker."""

    def __init__(self, last_error: object) -> None:
        super().__init__(repr(last_error))
        self.last_error = last_error


class PublishGuard:
    def __init__(
        self,
        publish: PublishFn,
        dlq: DeadLetterQueue,
        retry: NATSRetryHandler | None = None,
        breaker: CircuitBreaker | None = None,
        metrics: MetricsCollector | None = None,
        deadline_s: float | None = None,
    ) -> None:
        self._publish = publish
        self.deadline_s = deadline_s
        self.dlq = dlq
        self.retry = retry or NATSRetryHandler()
        self.breaker = breaker or CircuitBreaker()
        self.metrics = metrics

    async def publish(self, subject: str, message: dict[str, Any]) -> PublishResult:
        message_id = str(message.get("message_id", ""))
        started = time.perf_counter()
        try:
            await self.breaker.call(self._with_retry, subject, message)
        except CircuitBreakerOpen as error:
            return await self._dead_letter(subject, message, "circuit breaker open", 0, error.retry_after)
        except _Failed as error:
            return await self._dead_letter(subject, message, repr(error.last_error), self.retry.last_attempts)
        if self.metrics is not None:
            self.metrics.observe_publish_latency(time.perf_counter() - started)
        return PublishResult(sent=True, message_id=message_id)

    async def dead_letter_now(self, subject: str, message: dict[str, Any], reason: str) -> PublishResult:
        """Queue without trying: the link is known to be down, so a publish would only time out."""
        return await self._dead_letter(subject, message, reason, 0)

    async def _with_retry(self, subject: str, message: dict[str, Any]) -> None:
        # A publish that misses the deadline may still be stored late; its replay from the DLQ
        # carries the same Nats-Msg-Id, so JetStream and the consumer's dedup drop the copy.
        try:
            async with asyncio.timeout(self.deadline_s):
                ok, result = await self.retry.retry_with_backoff(self._publish, subject, message)
        except TimeoutError as exc:
            raise _Failed(f"publish deadline of {self.deadline_s:g} s exceeded") from exc
        if not ok:
            raise _Failed(result)

    async def _dead_letter(
        self,
        subject: str,
        message: dict[str, Any],
        reason: str,
        attempts: int,
        retry_after: float | None = None,
    ) -> PublishResult:
        body = {**message, "_subject": subject}
        dlq_id = await self.dlq.enqueue(body, reason, attempts)
        channel = str(message.get("channel", "unknown"))
        if self.metrics is not None:
            self.metrics.record_message_dlq(channel)
            self.metrics.set_dlq_depth(await self.dlq.get_pending_count())
        log.warning("nats_publish_dead_lettered", message_id=message.get("message_id"), reason=reason)
        return PublishResult(
            sent=False,
            message_id=str(message.get("message_id", "")),
            dlq_id=dlq_id,
            reason=reason,
            retry_after=retry_after,
        )
