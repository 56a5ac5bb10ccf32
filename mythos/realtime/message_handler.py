"""Consume path for NATS chat: validate, dedup, then breaker -> retry -> processing -> DLQ.

Each failed message is dead-lettered exactly once: the handler enqueues in one place only, and a
fan-out error is raised inside the retried function so retry sees it (the original enqueued both
in the retry wrapper and the caller, and let fan-out exceptions escape retry).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

from mythos.observability.logging import get_logger
from mythos.observability.metrics import MetricsCollector
from mythos.realtime.circuit_breaker import CircuitBreaker, CircuitBreakerOpen
from mythos.realtime.dead_letter_queue import DeadLetterQueue
from mythos.realtime.retry import NATSRetryHandler, PermanentError, is_permanent

__all__ = [
    "REQUIRED_FIELDS",
    "DedupCache",
    "HandleOutcome",
    "NATSMessageHandler",
    "parse_message",
]

log = get_logger(__name__)

REQUIRED_FIELDS: tuple[str, ...] = ("message_id", "sender_id", "channel", "content", "timestamp")
FanOut = Callable[[dict[str, Any]], Awaitable[None]]


class HandleOutcome(StrEnum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


class DedupCache:
    """Bounded LRU of message ids already delivered to local players."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, message_id: str) -> bool:
        """Record the id; False when it was already there (a duplicate)."""
        if message_id in self._seen:
            self._seen.move_to_end(message_id)
            return False
        self._seen[message_id] = None
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return True

    def discard(self, message_id: str) -> None:
        self._seen.pop(message_id, None)


def parse_message(raw: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """Decode and check the chat body; anything malformed is a PermanentError (no retry helps)."""
    if isinstance(raw, dict):
        data = raw
    else:
        try:
            data = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise PermanentError(f"not JSON: {error}") from error
    if not isinstance(data, dict):
        raise PermanentError("message body is not an object")
    for name in REQUIRED_FIELDS:  # a plain loop: this runs for every chat line
        value = data.get(name)
        if value is None or value == "":
            missing = [f for f in REQUIRED_FIELDS if data.get(f) in (None, "")]
            raise PermanentError(f"missing fields: {', '.join(missing)}")
    if not isinstance(data["message_id"], str) or not isinstance(data["content"], str):
        raise PermanentError("message_id and content must be strings")
    return data


class NATSMessageHandler:
    """Runs one incoming message through breaker, retry and fan-out; never lets an error escape.

    `dlq_when_open=False` makes an open breaker raise CircuitBreakerOpen instead, for transports
    that redeliver (JetStream naks the message and gets it again after retry_after).
    `export_breaker_state=False` keeps this breaker out of the breaker-state gauge when another
    breaker (the publish side's) is the one that reports NATS health.
    """

    def __init__(
        self,
        fan_out: FanOut,
        dlq: DeadLetterQueue,
        retry: NATSRetryHandler | None = None,
        breaker: CircuitBreaker | None = None,
        metrics: MetricsCollector | None = None,
        dedup: DedupCache | None = None,
        dlq_when_open: bool = True,
        export_breaker_state: bool = True,
    ) -> None:
        self._fan_out = fan_out
        self.dlq = dlq
        self.retry = retry or NATSRetryHandler()
        self.breaker = breaker or CircuitBreaker(excluded=is_permanent)
        self.metrics = metrics
        self.dedup = dedup or DedupCache()
        self.dlq_when_open = dlq_when_open
        if metrics is not None:
            dlq.watch_depth(metrics.set_dlq_depth)
            if export_breaker_state:
                self.breaker.add_listener(metrics.set_circuit_breaker_state)

    async def handle(self, raw: bytes | str | dict[str, Any], subject: str = "") -> HandleOutcome:
        try:
            message = parse_message(raw)
        except PermanentError as error:
            body = raw if isinstance(raw, dict) else {"raw": _as_text(raw), "subject": subject}
            return await self._dead_letter(body, error, retry_count=0, channel=_channel_of(raw))
        channel = str(message["channel"])
        message_id = message["message_id"]
        if message_id in self.dedup:
            log.debug("nats_message_duplicate", message_id=message_id)
            return HandleOutcome.DUPLICATE
        try:
            admission = self.breaker.before_call()
        except CircuitBreakerOpen as error:
            if not self.dlq_when_open:
                raise
            return await self._dead_letter(message, error, 0, channel)
        # Breaker -> retry -> processing, with the first attempt inline: the common case (fan-out
        # works) then costs one await; a failure continues into retry's remaining attempts.
        try:
            try:
                await self._fan_out(message)
            except Exception as first_error:
                self._record_failed(channel)
                ok, result = await self.retry.continue_after(first_error, self._attempt, message, channel)
                if not ok:
                    self.breaker.after_failure(result, admission)
                    return await self._dead_letter(message, result, self.retry.last_attempts, channel)
        except BaseException:
            # Cancelled mid-delivery (the consumer is stopping): no verdict, free a probe slot.
            # The message is not acked, so the transport redelivers it.
            self.breaker.release(admission)
            raise
        self.breaker.after_success(admission)
        self.dedup.add(message_id)
        if self.metrics is not None:
            self.metrics.record_message_processed(channel)
        return HandleOutcome.PROCESSED

    async def _attempt(self, message: dict[str, Any], channel: str) -> None:
        """A retried fan-out: its exceptions are what retry sees and counts."""
        try:
            await self._fan_out(message)
        except Exception:
            self._record_failed(channel)
            raise

    def _record_failed(self, channel: str) -> None:
        if self.metrics is not None:
            self.metrics.record_message_failed(channel)

    async def _dead_letter(
        self, body: dict[str, Any], error: BaseException | str, retry_count: int, channel: str
    ) -> HandleOutcome:
        await self.dlq.enqueue(body, error, retry_count)
        if self.metrics is not None:
            self.metrics.record_message_dlq(channel)
        return HandleOutcome.DEAD_LETTERED


def _as_text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def _channel_of(raw: object) -> str:
    if isinstance(raw, dict):
        return str(raw.get("channel") or "unknown")
    return "unknown"
