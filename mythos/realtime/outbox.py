"""The outbox: a server sends the chat it dead-lettered itself once NATS takes publishes again.

A line said while NATS could not take it is kept in the DLQ and its sender told it is queued
(PublishGuard). Without this, it waited there for an operator's `mythos dlq replay`. The outbox
drains it: when the link is back and the publish breaker is not open, it publishes this server's
own queued lines, oldest first, with their original message ids (JetStream's Nats-Msg-Id window
and the consumers' dedup drop a copy of a line that reached the stream after all), and removes
each entry only once the stream acknowledged it. Lines go out in windows of up to `window()`
publishes in flight (one while the breaker is half-open: the probe): nats-py writes them to the
connection in the order they are started, so the stream stores them in order, and the round
costs about one round trip per window instead of one per line. A failure ends the round; the
next one starts with the line that failed. (A line after a failed one in the same window may
already be stored: it is removed, and may be seen before the earlier one when that is resent.)

Only lines tagged with this server's id (`origin`) are drained: servers that share a DLQ
directory never send each other's lines twice, and entries without an origin (consume-side dead
letters, entries of older versions) stay for the operators. A line older than
CHAT_OUTBOX_MAX_AGE is not sent (a reply minutes late reads as a new remark): it is marked
"expired", kept for the operators, and its sender is told once, as soon as it crosses the limit,
NATS up or not. A limit of 0 turns the drain off.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mythos.observability.logging import get_logger
from mythos.realtime.dead_letter_queue import DeadLetterEntry, DeadLetterQueue
from mythos.realtime.dlq_admin import split_subject

__all__ = ["EXPIRED", "DrainReport", "Outbox"]

log = get_logger(__name__)

EXPIRED = "expired"
"""An entry's `outbox` mark once the drain refused it as older than the limit."""
POLL_S = 1.0
"""How often the loop looks again while it has work left (a failed round, lines still queued)."""
WINDOW = 64
"""Publishes in flight at once while the breaker is closed."""

Publish = Callable[[str, dict[str, Any]], Awaitable[Any]]
Notify = Callable[[dict[str, Any], float], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class DrainReport:
    """One round: lines sent, lines refused as too old, own lines still queued, and why it stopped."""

    sent: int = 0
    expired: int = 0
    left: int | None = None
    stopped: str | None = None
    seconds: float = 0.0


class Outbox:
    """Drains one server's own queued chat; `wake()` when NATS may take publishes again."""

    def __init__(
        self,
        dlq: DeadLetterQueue,
        origin: str,
        publish: Publish,
        *,
        ready: Callable[[], bool],
        max_age_s: float,
        notify: Notify | None = None,
        clock: Callable[[], float] = time.time,
        poll_s: float = POLL_S,
        window: Callable[[], int] = lambda: WINDOW,
    ) -> None:
        self.dlq = dlq
        self.origin = origin
        self.max_age_s = max_age_s
        self._publish = publish
        self._ready = ready
        self._notify = notify
        self._clock = clock
        self._poll_s = poll_s
        self._window = window
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._dirty = True  # lines queued before a restart are this server's too
        self._next_expiry = 0.0
        self.sent = 0
        self.expired = 0

    @property
    def enabled(self) -> bool:
        return self.max_age_s > 0

    def wake(self) -> None:
        """NATS may take publishes again (link established, breaker closed): drain now."""
        self._dirty = True
        self._wake.set()

    def note_queued(self, _entry_id: str) -> None:
        """A line was queued: there is work once NATS is back, and it expires at the latest then."""
        self._dirty = True
        self._next_expiry = min(self._next_expiry, self._clock() + self.max_age_s)

    async def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"outbox-{self.origin}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_s)
            self._wake.clear()
            if not (self._dirty or self._clock() >= self._next_expiry):
                continue
            try:
                await self.drain()
            except Exception as error:  # the loop outlives any one round (a DLQ read error, ...)
                self._dirty = True
                log.warning("chat_outbox_round_failed", origin=self.origin, error=repr(error))

    async def drain(self) -> DrainReport:
        """One round: send what is due in order, mark what is too old; never two rounds at once."""
        if not self.enabled:
            return DrainReport(stopped="disabled")
        async with self._lock:
            started = time.perf_counter()
            ready = self._ready()
            if not ready and self._clock() < self._next_expiry:
                return DrainReport(stopped="not ready")
            if ready:
                self._dirty = False  # lines queued from here on set it again
            sent = expired = 0
            stopped: str | None = None
            self._next_expiry = math.inf
            pending = await self._own_pending()
            left = len(pending)
            index = 0
            while index < len(pending):
                entry = pending[index]
                said_at = _said_at(entry)
                if self._clock() - said_at > self.max_age_s:
                    await self._expire(entry, self._clock() - said_at)
                    expired += 1
                    left -= 1
                    index += 1
                    continue
                if stopped is not None or not self._ready():
                    stopped = stopped or "not ready"
                    self._next_expiry = min(self._next_expiry, said_at + self.max_age_s)
                    index += 1
                    continue
                batch = self._take(pending, index)
                index += len(batch)
                done, failed = await self._send_window(batch)
                sent += done
                left -= done
                if failed:
                    stopped = "publish failed"
                    self._next_expiry = min(self._next_expiry, *(_said_at(e) + self.max_age_s for e in failed))
            if stopped is not None:
                self._dirty = True
            self.sent += sent
            self.expired += expired
            report = DrainReport(sent, expired, left, stopped, time.perf_counter() - started)
        if sent or expired or stopped == "publish failed":
            log.info("chat_outbox_drained", origin=self.origin, sent=sent, expired=expired, left=left,
                     stopped=stopped, seconds=round(report.seconds, 3))
        return report

    async def _own_pending(self) -> list[DeadLetterEntry]:
        """This server's queued lines not yet refused, in the order they were queued."""
        entries = [e for e in await self.dlq.list() if e.origin == self.origin and e.outbox is None]
        entries.sort(key=lambda e: (e.created_at, _said_at(e)))
        return entries

    def _take(self, pending: list[DeadLetterEntry], start: int) -> list[DeadLetterEntry]:
        """The next window: consecutive lines from `start` still young enough to send."""
        size = max(1, self._window())
        batch: list[DeadLetterEntry] = []
        for entry in pending[start:start + size]:
            if self._clock() - _said_at(entry) > self.max_age_s:
                break  # the caller expires it in order
            batch.append(entry)
        return batch

    async def _send_window(self, batch: list[DeadLetterEntry]) -> tuple[int, list[DeadLetterEntry]]:
        """Publish a window of lines at once; remove the acknowledged ones. Returns (sent, failed)."""
        results = await asyncio.gather(*(self._send(entry.message) for entry in batch), return_exceptions=True)
        acked = [entry.id for entry, result in zip(batch, results, strict=True)
                 if not isinstance(result, BaseException)]
        failed = [entry for entry, result in zip(batch, results, strict=True) if isinstance(result, BaseException)]
        if acked:
            await self.dlq.delete_many(acked)
        if failed:
            error = next(r for r in results if isinstance(r, BaseException))
            log.info("chat_outbox_publish_failed", origin=self.origin, failed=len(failed), first=failed[0].id,
                     error=repr(error))
        return len(acked), failed

    async def _send(self, data: dict[str, Any]) -> None:
        subject, body = split_subject(dict(data))
        await self._publish(subject, body)

    async def _expire(self, entry: DeadLetterEntry, age: float) -> None:
        reason = (f"not sent by the outbox: {age:.0f} s old, over CHAT_OUTBOX_MAX_AGE "
                  f"({self.max_age_s:g} s); {entry.error}")
        if not await self.dlq.mark(entry.id, EXPIRED, reason):
            return  # replayed or deleted by an operator meanwhile
        log.warning("chat_outbox_line_expired", origin=self.origin, entry_id=entry.id, age_s=round(age, 1))
        if self._notify is None:
            return
        body = {k: v for k, v in entry.message.items() if k != "_subject"}
        try:
            result = self._notify(body, age)
            if inspect.isawaitable(result):
                await result
        except Exception as error:  # a notice that cannot be sent must not stop the drain
            log.warning("chat_outbox_notice_failed", entry_id=entry.id, error=repr(error))


def _said_at(entry: DeadLetterEntry) -> float:
    """When the line was said (its own timestamp), else when it was queued."""
    stamp = entry.message.get("timestamp")
    if isinstance(stamp, str):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(stamp).timestamp()
    return entry.created_at
