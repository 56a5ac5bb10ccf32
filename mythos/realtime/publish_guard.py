"""Publish path: retry with backoff, through the circuit breaker, and the DLQ when both give up.

The sender always gets a PublishResult: sent, or dead-lettered with a plain reason. Nothing is
dropped silently. Retrying is safe because the JetStream publish carries Nats-Msg-Id.

Cancellation is part of the contract: a publish whose task is cancelled before NATS acknowledged
it (a WebSocket reader cancelled by session eviction, mid-`say`) is dead-lettered, then the
cancellation goes on. The DLQ write runs as its own shielded task, so a second cancellation
cannot stop it; `drain()` waits for such writes (shutdown, tests).
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
from mythos.realtime.retry import NATSRetryHandler, PermanentError, is_permanent

__all__ = ["CANCELLED_REASON", "PublishGuard", "PublishResult"]

log = get_logger(__name__)

PublishFn = Callable[[str, dict[str, Any]], Awaitable[Any]]
REFUSED_TEXT = "Chat is unavailable right now; your message was saved and will be resent."
CANCELLED_REASON = "publish cancelled before NATS acknowledged it"


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
    """Retries ran out (or a deadline passed); one failure for the breaker."""

    def __init__(self, last_error: BaseException | str) -> None:
        super().__init__(str(last_error))
        self.last_error = last_error


class _Refused(_Failed, PermanentError):
    """A permanent error (bad input): a PermanentError, so a breaker built with
    `excluded=is_permanent` does not count it against NATS."""


class PublishGuard:
    def __init__(
        self,
        publish: PublishFn,
        dlq: DeadLetterQueue,
        retry: NATSRetryHandler | None = None,
        breaker: CircuitBreaker | None = None,
        metrics: MetricsCollector | None = None,
        deadline_s: float | None = None,
        origin: str | None = None,
        on_queued: Callable[[str], None] | None = None,
    ) -> None:
        self._publish = publish
        self.origin = origin
        """This server's id, written on every line it queues: its outbox drains only those."""
        self.on_queued = on_queued
        """Called with the entry id after each line is queued (the outbox's cue that it has work)."""
        self.deadline_s = deadline_s
        self.dlq = dlq
        self.retry = retry or NATSRetryHandler()
        self.breaker = breaker or CircuitBreaker(excluded=is_permanent)
        self.metrics = metrics
        self._writes: set[asyncio.Task[PublishResult]] = set()
        if metrics is not None:
            dlq.watch_depth(metrics.set_dlq_depth)

    async def publish(self, subject: str, message: dict[str, Any]) -> PublishResult:
        message_id = str(message.get("message_id", ""))
        started = time.perf_counter()
        try:
            await self.breaker.call(self._with_retry, subject, message)
        except CircuitBreakerOpen as error:
            return await self._dead_letter(subject, message, error, 0, error.retry_after)
        except _Failed as error:
            return await self._dead_letter(subject, message, error.last_error, self.retry.last_attempts)
        except asyncio.CancelledError as error:
            await self._dead_letter(subject, message, error, self.retry.last_attempts)
            raise
        if self.metrics is not None:
            self.metrics.observe_publish_latency(time.perf_counter() - started)
        return PublishResult(sent=True, message_id=message_id)

    async def dead_letter_now(self, subject: str, message: dict[str, Any], reason: str) -> PublishResult:
        """Queue without trying: the link is known to be down, so a publish would only time out."""
        return await self._dead_letter(subject, message, ConnectionError(reason), 0)

    async def drain(self) -> None:
        """Wait for dead-letter writes whose caller was cancelled."""
        while self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    async def _with_retry(self, subject: str, message: dict[str, Any]) -> None:
        # A publish that misses the deadline may still be stored late; its replay from the DLQ
        # carries the same Nats-Msg-Id, so JetStream and the consumer's dedup drop the copy.
        try:
            async with asyncio.timeout(self.deadline_s):
                ok, result = await self.retry.retry_with_backoff(self._publish, subject, message)
        except TimeoutError as exc:
            raise _Failed(TimeoutError(f"publish deadline of {self.deadline_s:g} s exceeded")) from exc
        if not ok:
            raise (_Refused if self.retry.permanent(result) else _Failed)(result)

    async def _dead_letter(
        self,
        subject: str,
        message: dict[str, Any],
        error: BaseException | str,
        attempts: int,
        retry_after: float | None = None,
    ) -> PublishResult:
        """Write the line to the DLQ in a task of its own: a cancelled caller cannot lose it."""
        write = asyncio.get_running_loop().create_task(
            self._write_dead_letter(subject, message, error, attempts, retry_after)
        )
        self._writes.add(write)
        write.add_done_callback(self._writes.discard)
        return await asyncio.shield(write)

    async def _write_dead_letter(
        self,
        subject: str,
        message: dict[str, Any],
        error: BaseException | str,
        attempts: int,
        retry_after: float | None,
    ) -> PublishResult:
        body = {**message, "_subject": subject}
        try:
            if isinstance(error, asyncio.CancelledError):
                dlq_id = await self.dlq.enqueue(body, CANCELLED_REASON, attempts, error_type="CancelledError",
                                                origin=self.origin)
            else:
                dlq_id = await self.dlq.enqueue(body, error, attempts, origin=self.origin)
        except OSError as exc:
            # A full or read-only disk: the line can be neither sent nor kept. Say so rather than
            # acknowledge a line that is gone (the sender is told it was not kept).
            log.error("dlq_write_failed", message_id=message.get("message_id"), error=str(exc),
                      errno=exc.errno)
            return PublishResult(sent=False, message_id=str(message.get("message_id", "")), dlq_id=None,
                                 reason=f"dead-letter queue write failed: {exc.strerror or exc}",
                                 retry_after=retry_after)
        channel = str(message.get("channel", "unknown"))
        if self.on_queued is not None:
            self.on_queued(dlq_id)
        if self.metrics is not None:
            self.metrics.record_message_dlq(channel)
        entry_error = CANCELLED_REASON if isinstance(error, asyncio.CancelledError) else str(error)
        log.warning("nats_publish_dead_lettered", message_id=message.get("message_id"), reason=entry_error)
        return PublishResult(
            sent=False,
            message_id=str(message.get("message_id", "")),
            dlq_id=dlq_id,
            reason=entry_error,
            retry_after=retry_after,
        )
