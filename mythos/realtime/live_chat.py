"""Live chat: each line also goes out on core NATS (``live.<subject>``) beside its JetStream
publish, and players get it from there at once; JetStream stays the durable record.

Why: a NATS cluster that loses its stream leader refuses JetStream publishes for 4-9 s while Raft
elects a new one (nats-server does not let that wait be tuned), so chat stopped for that long.
Core NATS routes among the surviving nodes at once. A line JetStream refused is still queued by
the publish guard and sent by the outbox later; players who had it live drop that copy.

Exactly once: the line's message_id is its identity on both paths. The DedupCache shared with the
JetStream consumer records lines handed over; DeliveryClaims records lines being fanned out right
now, so the live and the durable copy never go out at the same time (the durable one waits for
the live one's verdict, a live one finding the durable copy in flight leaves it to that).

Per-sender order: each stamped line carries its origin (instance and a boot nonce) and a
per-sender sequence in headers, on both copies. A receiver holds a live line whose predecessor
it has not handed over yet (that live copy was lost while a link reconnected) until the
predecessor comes by either path, or for at most ``hold_s``; while the receiver's own durable
path is down (its link reconnecting or its breaker open, as when its NATS node is cut off) the
gap is held on, and gets a full ``hold_s`` once the path is back for the consumer to catch up (at
most ``max_hold_s`` in all). A line whose copies were all lost and which JetStream refused is
queued and sent later, outside the order its sender was told.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from mythos.observability.logging import get_logger
from mythos.realtime.message_handler import DedupCache

__all__ = [
    "LIVE_PREFIX",
    "ORIGIN_HEADER",
    "SEQ_HEADER",
    "DeliveryClaims",
    "LiveChat",
    "live_subject",
]

log = get_logger(__name__)

LIVE_PREFIX = "live."
ORIGIN_HEADER = "Mythos-Origin"
SEQ_HEADER = "Mythos-Sender-Seq"
MSG_ID_HEADER = "Nats-Msg-Id"
STAMPS_KEPT = 4096  # lines in flight whose stamp a retry must reuse
SENDERS_TRACKED = 10_000

FanOut = Callable[[dict[str, Any]], Awaitable[None]]
DurablePublish = Callable[..., Awaitable[Any]]


def live_subject(subject: str) -> str:
    return LIVE_PREFIX + subject


class DeliveryClaims:
    """Message ids being fanned out right now, by either path."""

    def __init__(self) -> None:
        self._busy: dict[str, asyncio.Future[None]] = {}

    def busy(self, message_id: str) -> bool:
        return message_id in self._busy

    async def wait(self, message_id: str, within_s: float) -> None:
        """Wait (bounded) until the other path's fan-out of `message_id` has its verdict."""
        future = self._busy.get(message_id)
        if future is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(future), within_s)

    @contextlib.contextmanager
    def hold(self, message_id: str) -> Iterator[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._busy[message_id] = future
        try:
            yield
        finally:
            if self._busy.get(message_id) is future:
                del self._busy[message_id]
            future.set_result(None)


@dataclass(frozen=True, slots=True)
class _Line:
    message_id: str
    body: dict[str, Any]


class LiveChat:
    """Publishes stamped live copies and hands received ones over in per-sender order."""

    def __init__(
        self,
        instance_id: str,
        fan_out: FanOut,
        dedup: DedupCache,
        claims: DeliveryClaims,
        hold_s: float = 2.0,
        processed: Callable[[str], None] | None = None,
        *,
        durable_ready: Callable[[], bool] | None = None,
        max_hold_s: float = 30.0,
    ) -> None:
        self.origin = f"{instance_id}:{secrets.token_hex(4)}"
        self.fan_out = fan_out
        self.dedup = dedup
        self.claims = claims
        self.hold_s = hold_s
        self.durable_ready = durable_ready
        """Whether the durable path can fill a gap now (the link is connected); while it cannot, a
        gap is held past ``hold_s``, up to ``max_hold_s``, and gets a full hold once it is back."""
        self.max_hold_s = max_hold_s
        self.processed = processed
        """Told the channel of each line handed over (the metrics' processed count)."""
        self._nc: NATS | None = None
        self._sub: Subscription | None = None
        self._sender_seq: dict[str, int] = {}
        self._stamps: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._next: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._held: dict[tuple[str, str], dict[int, _Line]] = {}
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._held_since: dict[tuple[str, str], float] = {}
        self._releases: set[asyncio.Task[None]] = set()
        self._order_lock = asyncio.Lock()
        """One hand-over at a time: the subscription, the consumer's note and a hold's expiry
        each await fan-outs, and must not interleave one sender's lines."""
        self.published = 0
        self.publish_failures = 0
        self.delivered = 0
        self.duplicates_dropped = 0
        self.left_to_durable = 0
        self.lines_held = 0
        self.gaps_skipped = 0
        self.fan_out_failures = 0

    # -- binding -------------------------------------------------------------------------------
    async def bind(self, nc: NATS) -> None:
        """Subscribe on a (new) connection; call beside JetStreamChat.bind."""
        self._nc = nc
        self._sub = await nc.subscribe(LIVE_PREFIX + ">", cb=self._on_msg)

    def unbind(self, nc: NATS) -> None:
        if self._nc is nc:
            self._nc = None
            self._sub = None

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        for task in list(self._releases):
            task.cancel()

    # -- publish -------------------------------------------------------------------------------
    def stamp(self, message: dict[str, Any]) -> dict[str, str]:
        """The line's headers; a retry of the same message_id gets the same stamp."""
        message_id = str(message["message_id"])
        stamp = self._stamps.get(message_id)
        if stamp is None:
            sender = str(message.get("sender_id", ""))
            seq = self._sender_seq.get(sender, 0) + 1
            self._sender_seq[sender] = seq
            stamp = {MSG_ID_HEADER: message_id, ORIGIN_HEADER: self.origin, SEQ_HEADER: str(seq)}
            self._stamps[message_id] = stamp
            if len(self._stamps) > STAMPS_KEPT:
                self._stamps.popitem(last=False)
        return stamp

    async def publish(self, subject: str, message: dict[str, Any]) -> bool:
        """Send the live copy; never raises (the durable path carries the guarantee)."""
        nc = self._nc
        if nc is None or not nc.is_connected:
            return False
        payload = json.dumps(message, separators=(",", ":")).encode()
        try:
            await nc.publish(live_subject(subject), payload, headers=self.stamp(message))
        except Exception as error:
            self.publish_failures += 1
            log.info("live_publish_failed", subject=subject, error=repr(error))
            return False
        self.published += 1
        return True

    def publisher(self, durable: DurablePublish) -> Callable[[str, dict[str, Any]], Awaitable[Any]]:
        """The publish guard's call: the live copy, then the durable one, on every attempt."""

        async def publish(subject: str, message: dict[str, Any]) -> Any:
            await self.publish(subject, message)
            return await durable(subject, message, headers=self.stamp(message))

        return publish

    # -- receive -------------------------------------------------------------------------------
    async def _on_msg(self, msg: Msg) -> None:
        try:
            body = json.loads(msg.data)
            message_id = str(body["message_id"])
        except (ValueError, KeyError, TypeError):
            return  # malformed: the durable copy goes through the handler and its DLQ
        key, seq = _order_key(msg.headers, body)
        async with self._order_lock:
            await self._admit(key, seq, _Line(message_id, body))

    async def note_durable(self, headers: dict[str, str] | None, body: dict[str, Any] | None) -> None:
        """The JetStream consumer handed a line over: release live lines held behind it."""
        if body is None:
            return
        key, seq = _order_key(headers, body)
        if key is None or seq is None:
            return
        async with self._order_lock:
            expected = self._next.get(key)
            if expected is None or seq >= expected:
                self._set_next(key, seq + 1)
                await self._release(key)

    async def _admit(self, key: tuple[str, str] | None, seq: int | None, line: _Line) -> None:
        if key is None or seq is None:
            await self._deliver(line)
            return
        expected = self._next.get(key)
        if expected is not None and seq > expected:
            held = self._held.setdefault(key, {})
            if seq not in held:
                self.lines_held += 1
            held[seq] = line
            if key not in self._timers:
                loop = asyncio.get_running_loop()
                self._held_since.setdefault(key, loop.time())
                self._timers[key] = loop.call_later(self.hold_s, self._expire, key)
            return
        await self._deliver(line)
        if expected is None or seq == expected:
            self._set_next(key, seq + 1)
            await self._release(key)

    async def _release(self, key: tuple[str, str]) -> None:
        held = self._held.get(key)
        while held:
            expected = self._next.get(key)
            line = held.pop(expected, None) if expected is not None else None
            if line is None or expected is None:
                break
            await self._deliver(line)
            self._set_next(key, expected + 1)
        if not held:
            self._held.pop(key, None)
            self._held_since.pop(key, None)
            timer = self._timers.pop(key, None)
            if timer is not None:
                timer.cancel()

    def durable_back(self) -> None:
        """The durable path works again: every held gap gets a full ``hold_s`` from now, the time
        its consumer needs to catch up on what the stream stored meanwhile."""
        loop = asyncio.get_running_loop()
        for key in list(self._held):
            timer = self._timers.pop(key, None)
            if timer is not None:
                timer.cancel()
            self._timers[key] = loop.call_later(self.hold_s, self._expire, key)

    def _expire(self, key: tuple[str, str]) -> None:
        """A predecessor did not come within hold_s: skip it and hand over what waits behind it,
        unless the durable path that would bring it is down (then hold on, up to max_hold_s)."""
        self._timers.pop(key, None)
        if not self._held.get(key):
            return
        loop = asyncio.get_running_loop()
        waiting = loop.time() - self._held_since.get(key, loop.time())
        if self.durable_ready is not None and not self.durable_ready() and waiting < self.max_hold_s:
            self._timers[key] = loop.call_later(self.hold_s, self._expire, key)
            return
        task = loop.create_task(self._skip_gap(key))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _skip_gap(self, key: tuple[str, str]) -> None:
        async with self._order_lock:
            held = self._held.get(key)
            expected = self._next.get(key)
            if held and expected is not None and min(held) > expected:
                first = min(held)
                self.gaps_skipped += 1
                log.warning("live_gap_skipped", origin=key[0], sender=key[1], missing_from=expected, to=first - 1)
                self._set_next(key, first)
            await self._release(key)
            if self._held.get(key) and key not in self._timers:
                self._timers[key] = asyncio.get_running_loop().call_later(self.hold_s, self._expire, key)

    async def _deliver(self, line: _Line) -> None:
        if line.message_id in self.dedup:
            self.duplicates_dropped += 1
            return
        if self.claims.busy(line.message_id):
            self.left_to_durable += 1  # the durable copy is being fanned out right now
            return
        with self.claims.hold(line.message_id):
            try:
                await self.fan_out(line.body)
            except Exception as error:
                # Not acked anywhere: the durable copy retries it and dead-letters it if it must.
                self.fan_out_failures += 1
                log.info("live_fan_out_failed", message_id=line.message_id, error=repr(error))
                return
            self.dedup.add(line.message_id)
        self.delivered += 1
        if self.processed is not None:
            self.processed(str(line.body.get("channel", "unknown")))

    def _set_next(self, key: tuple[str, str], value: int) -> None:
        self._next[key] = value
        self._next.move_to_end(key)
        if len(self._next) > SENDERS_TRACKED:
            old, _ = self._next.popitem(last=False)
            self._held.pop(old, None)


def _order_key(headers: dict[str, str] | None, body: dict[str, Any]) -> tuple[tuple[str, str] | None, int | None]:
    """(origin, sender) and the sender's sequence from a stamped line; (None, None) unstamped."""
    if not headers or ORIGIN_HEADER not in headers or SEQ_HEADER not in headers:
        return None, None
    try:
        seq = int(headers[SEQ_HEADER])
    except ValueError:
        return None, None
    return (headers[ORIGIN_HEADER], str(body.get("sender_id", ""))), seq
