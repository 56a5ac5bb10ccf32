"""JetStream chat transport: a stream over the chat subjects, idempotent publish, and a durable
per-instance consumer that acks only after local fan-out succeeded.

Core NATS is at-most-once, so a mythos instance cut off from the server would lose the chat sent
meanwhile. Here the stream keeps it; each instance's durable consumer resumes where it acked;
`Nats-Msg-Id` = message_id lets the server drop a republished duplicate inside its window; and an
LRU of delivered ids drops a redelivery whose ack was lost.

The consumer is fenced to one connection at a time: `bind` and `unbind` advance a generation, a
fetch result from an older generation is dropped unacked (the server redelivers it to the live
binding after ack_wait), and a CancelledError that nats-py raises from inside a fetch while it
closes an old client is a fetch failure, not a reason for the fetch loop to end.

Lines are handed over in stream-sequence order. The consumer's filter is the whole stream, so
sequences it sees are contiguous; a gap means an earlier line is still out (fetched through a
retired connection, or nak'd after a failed fan-out) and will be redelivered. Later lines wait
in a reorder buffer (their ack timers kept alive with in-progress acks) until the gap fills, or
for at most `reorder_hold_s` (a line the stream no longer has, e.g. aged out), then go in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from mythos.observability.logging import get_logger
from mythos.realtime.circuit_breaker import CircuitBreakerOpen
from mythos.realtime.live_chat import DeliveryClaims
from mythos.realtime.message_handler import DedupCache

__all__ = ["Deliver", "JetStreamChat", "StreamSpec", "consumer_name"]

log = get_logger(__name__)

Deliver = Callable[[bytes, str], Awaitable[Any]]
OnHandedOver = Callable[[dict[str, str] | None, dict[str, Any] | None], Awaitable[None]]
NAK_DELAY_S = 0.5  # redelivery delay after a failed fan-out that did not give its own retry_after
RESUBSCRIBE_WAIT_S = 0.2


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """The chat stream. max_age bounds disk use; duplicate_window bounds publish dedup."""

    name: str = "MYTHOS_CHAT"
    subjects: tuple[str, ...] = ("chat.>", "events.>")
    max_age_s: float = 3600.0
    duplicate_window_s: float = 120.0
    ack_wait_s: float = 5.0
    max_ack_pending: int = 1000
    fetch_batch: int = 64
    fetch_timeout_s: float = 0.5
    """A pull that finds nothing waits this long (nats-py returns what arrived meanwhile when it
    ends). Shorter pulls cut chat latency but add pull traffic: at 0.1 s the pull requests alone
    filled the 1 KB/s link of nats_bandwidth (2 of 2 runs), at 0.25 s 1 of 3; the link dropped,
    lines in flight were redelivered after ack_wait and arrived out of order. With the fetch loop
    woken when the link comes back, 0.5 s keeps recovery under a second (ADR-004)."""
    publish_timeout_s: float = 2.0
    reorder_hold_s: float = 6.0
    """Longest a line waits for an earlier sequence: ack_wait plus a margin, because a line fetched
    through a retired connection comes back after ack_wait. Past it the gap is skipped."""
    replicas: int = 1
    """Copies a NATS cluster keeps of the stream (and, inherited, of each durable consumer)."""

    @classmethod
    def from_config(cls, nats_config: Any) -> StreamSpec:
        """The stream as `config.nats` sets it (NATS_STREAM_REPLICAS)."""
        return cls(replicas=int(nats_config.stream_replicas))


def consumer_name(instance_id: str) -> str:
    """Durable names may not contain '.', '*', '>' or spaces."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in instance_id)
    return f"mythos_{safe}"


class JetStreamChat:
    """Owns the stream, publishes with Nats-Msg-Id, and runs this instance's pull consumer."""

    def __init__(
        self,
        instance_id: str,
        spec: StreamSpec | None = None,
        dedup: DedupCache | None = None,
        claims: DeliveryClaims | None = None,
    ) -> None:
        self.instance_id = instance_id
        self.spec = spec or StreamSpec()
        self.dedup = dedup if dedup is not None else DedupCache()  # an empty cache is falsy
        self.claims = claims if claims is not None else DeliveryClaims()
        """Shared with the live path: a line it is fanning out now is waited for, not sent twice."""
        self.on_handed_over: OnHandedOver | None = None
        """Told (headers, body) of each line delivered or dropped as already delivered."""
        self.on_fetched: Callable[[], None] | None = None
        """Told when a fetch returned lines: the stream answers (the publish breaker may probe)."""
        self.durable = consumer_name(instance_id)
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._deliver: Deliver | None = None
        self._bound = asyncio.Event()
        self._link_back = asyncio.Event()
        self._binding = 0
        self._subscribe_lock = asyncio.Lock()
        self._stopping = False
        self.delivered = 0
        self.duplicates_dropped = 0
        self.stale_fetches_dropped = 0
        self.fetch_interruptions = 0
        self.lines_held = 0
        self.gaps_skipped = 0
        self.late_lines = 0
        self._through: int | None = None  # every stream sequence up to here was handled
        self._held: dict[int, Msg] = {}
        self._gap_since = 0.0

    @property
    def consumer_running(self) -> bool:
        """True while the fetch loop is alive (it must never end on its own)."""
        return self._task is not None and not self._task.done()

    # -- connection binding ----------------------------------------------------------------------
    async def bind(self, nc: NATS) -> None:
        """(Re)bind to a connection: call on first connect and after a from-scratch reconnect."""
        self._binding += 1
        self._nc = nc
        self._js = nc.jetstream(timeout=self.spec.publish_timeout_s)
        self._sub = None
        await self.ensure_stream()
        if self._deliver is not None:
            await self._subscribe()
        self._bound.set()

    def unbind(self, nc: NATS) -> None:
        """Forget `nc` (the link is about to close it): nothing is fetched or acked through it again."""
        if self._nc is not nc:
            return
        self._binding += 1
        self._nc = None
        self._js = None
        self._sub = None
        self._bound.clear()

    async def ensure_stream(self) -> None:
        js = self._require_js()
        config = api.StreamConfig(
            name=self.spec.name,
            subjects=list(self.spec.subjects),
            storage=api.StorageType.FILE,
            retention=api.RetentionPolicy.LIMITS,
            max_age=self.spec.max_age_s,
            duplicate_window=self.spec.duplicate_window_s,
            num_replicas=self.spec.replicas,
        )
        try:
            await js.stream_info(self.spec.name)
            await js.update_stream(config)
        except NotFoundError:
            await js.add_stream(config)
            log.info("jetstream_stream_created", stream=self.spec.name, subjects=self.spec.subjects)

    def _require_js(self) -> JetStreamContext:
        if self._js is None:
            raise ConnectionError("JetStreamChat is not bound to a NATS connection")
        return self._js

    # -- publish -------------------------------------------------------------------------------
    async def publish(self, subject: str, message: dict[str, Any], headers: dict[str, str] | None = None) -> api.PubAck:
        """Publish and wait for the stream's ack; a republish of the same message_id is a no-op."""
        js = self._require_js()
        payload = json.dumps(message, separators=(",", ":")).encode()
        ack = await js.publish(
            subject,
            payload,
            timeout=self.spec.publish_timeout_s,
            headers={**(headers or {}), "Nats-Msg-Id": str(message["message_id"])},
        )
        if ack.duplicate:
            log.info("jetstream_publish_duplicate", message_id=message["message_id"], seq=ack.seq)
        return ack

    # -- consume -------------------------------------------------------------------------------
    async def start_consumer(self, deliver: Deliver) -> None:
        """Start the fetch loop; `deliver(data, subject)` must finish before the message is acked."""
        self._deliver = deliver
        if self._js is not None:
            await self._subscribe()
        self._task = asyncio.create_task(self._run(), name=f"jetstream-consumer-{self.durable}")

    async def _subscribe(self) -> None:
        """Bind the pull subscription for the current binding; one caller at a time."""
        async with self._subscribe_lock:
            binding, js = self._binding, self._require_js()
            if self._sub is not None:
                return
            sub = await self._pull_subscribe(js)
            if binding != self._binding:  # rebound or unbound meanwhile: this one is stale
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
                return
            self._sub = sub
        log.info("jetstream_consumer_bound", durable=self.durable, stream=self.spec.name)

    async def _pull_subscribe(self, js: JetStreamContext) -> JetStreamContext.PullSubscription:
        config = api.ConsumerConfig(
            durable_name=self.durable,
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.NEW,
            ack_wait=self.spec.ack_wait_s,
            max_ack_pending=self.spec.max_ack_pending,
            max_deliver=-1,
            filter_subjects=list(self.spec.subjects),
        )
        return await js.pull_subscribe(
            self.spec.subjects[0], durable=self.durable, stream=self.spec.name, config=config
        )

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def delete_consumer(self) -> None:
        """Remove this instance's durable (an instance retired for good)."""
        with contextlib.suppress(Exception):
            await self._require_js().delete_consumer(self.spec.name, self.durable)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._release_expired_hold()
                await self._fetch_once()
            except asyncio.CancelledError:
                if _cancelled_by_owner():
                    raise
                # nats-py cancels a pending fetch when it closes a client; when that client was a
                # resurrected one (not CLOSED), the bare CancelledError reaches us. Not our stop.
                self.fetch_interruptions += 1
                log.warning("jetstream_fetch_interrupted", durable=self.durable)
                await self._resubscribe_later()
            except Exception as error:  # the loop must outlive any one failure
                log.warning("jetstream_fetch_loop_error", durable=self.durable, error=repr(error))
                await self._resubscribe_later()

    async def _fetch_once(self) -> None:
        binding, sub, nc = self._binding, self._sub, self._nc
        if sub is None or nc is None or not nc.is_connected:
            # Link down: wait for it instead of failing a fetch (and logging) every tick.
            await self._resubscribe_later()
            return
        try:
            msgs = await sub.fetch(self.spec.fetch_batch, timeout=self.spec.fetch_timeout_s)
        except TimeoutError:
            return  # no messages within the window: normal when chat is quiet
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.info("jetstream_fetch_failed", durable=self.durable, error=repr(error))
            await self._resubscribe_later()
            return
        if binding != self._binding:
            # Fetched through a connection being retired: unacked, so redelivered to the live one.
            self.stale_fetches_dropped += len(msgs)
            log.info("jetstream_stale_fetch_dropped", durable=self.durable, count=len(msgs))
            return
        if msgs and self.on_fetched is not None:
            self.on_fetched()
        for msg in msgs:
            await self._process(msg)

    def link_back(self) -> None:
        """The link is up again (nats-py reconnected): fetch now rather than at the next tick."""
        self._link_back.set()

    async def _resubscribe_later(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._link_back.wait(), RESUBSCRIBE_WAIT_S)
        self._link_back.clear()
        nc = self._nc
        if nc is None or not nc.is_connected or self._sub is not None:
            return
        try:
            await self._subscribe()
        except asyncio.CancelledError:
            if _cancelled_by_owner():
                raise
            log.info("jetstream_resubscribe_interrupted", durable=self.durable)
        except Exception as error:
            log.info("jetstream_resubscribe_failed", durable=self.durable, error=repr(error))

    async def _process(self, msg: Msg) -> None:
        """Hand `msg` over in stream order: at once when it is next (or late), else hold it."""
        seq = _stream_seq(msg)
        if seq is None:
            await self._handle(msg)
            return
        if self._through is None:
            self._through = seq - 1
        if seq <= self._through:
            if await self._handle(msg) == "delivered":
                self.late_lines += 1  # its gap was skipped: out of order, but not lost
                log.warning("jetstream_late_line", durable=self.durable, seq=seq)
            return
        if seq > self._through + 1:
            if not self._held:
                self._gap_since = time.monotonic()
                log.info("jetstream_gap_held", durable=self.durable, missing=self._through + 1, seq=seq)
            if seq not in self._held:
                self.lines_held += 1
            self._held[seq] = msg  # a redelivery of a held line replaces it: ack the newest
            await _quietly(msg.in_progress())
            return
        if await self._handle(msg) != "failed":
            self._through = seq
            await self._drain_held()

    async def _drain_held(self) -> None:
        """Release held lines that are now next in sequence; stop at the first failed fan-out."""
        assert self._through is not None
        if self._held and self._through + 1 in self._held:
            log.info(
                "jetstream_gap_filled",
                durable=self.durable,
                through=self._through,
                held=len(self._held),
                waited_s=round(time.monotonic() - self._gap_since, 3),
            )
        while (msg := self._held.pop(self._through + 1, None)) is not None:
            if await self._handle(msg) == "failed":
                break  # nak'd: it comes back as the next line and the drain resumes
            self._through += 1
        if self._held:
            self._gap_since = time.monotonic()
            for waiting in self._held.values():
                await _quietly(waiting.in_progress())

    async def _release_expired_hold(self) -> None:
        """Skip a gap that has not filled within reorder_hold_s (the line is gone from the stream)."""
        if not self._held or time.monotonic() - self._gap_since < self.spec.reorder_hold_s:
            return
        first = min(self._held)
        assert self._through is not None
        self.gaps_skipped += 1
        log.warning("jetstream_gap_skipped", durable=self.durable, missing_from=self._through + 1, to=first - 1)
        self._through = first - 1
        await self._drain_held()

    async def _handle(self, msg: Msg) -> str:
        """Fan out and ack one line: 'delivered', 'duplicate' (acked, dropped) or 'failed' (nak'd)."""
        message_id = msg.headers.get("Nats-Msg-Id") if msg.headers else None
        if message_id is None:
            message_id = _message_id_from_body(msg.data)
        if message_id is not None:
            await self.claims.wait(message_id, self.spec.ack_wait_s / 2)
        if message_id is not None and message_id in self.dedup:
            self.duplicates_dropped += 1
            await _quietly(msg.ack())
            await self._handed_over(msg)
            return "duplicate"
        assert self._deliver is not None
        try:
            if message_id is None:
                await self._deliver(msg.data, msg.subject)
            else:
                with self.claims.hold(message_id):
                    await self._deliver(msg.data, msg.subject)
        except CircuitBreakerOpen as error:
            await _quietly(msg.nak(delay=max(error.retry_after, NAK_DELAY_S)))
            return "failed"
        except Exception as error:
            log.warning("jetstream_deliver_failed", subject=msg.subject, error=repr(error))
            await _quietly(msg.nak(delay=NAK_DELAY_S))
            return "failed"
        if message_id is not None:
            self.dedup.add(message_id)
        self.delivered += 1
        await _quietly(msg.ack())
        await self._handed_over(msg)
        return "delivered"

    async def _handed_over(self, msg: Msg) -> None:
        if self.on_handed_over is None:
            return
        try:
            body = json.loads(msg.data)
        except ValueError:
            body = None
        try:
            headers = dict(msg.headers) if msg.headers else None
            await self.on_handed_over(headers, body if isinstance(body, dict) else None)
        except Exception as error:  # ordering help only: never fail the consumer over it
            log.warning("jetstream_handed_over_hook_failed", error=repr(error))


def _cancelled_by_owner() -> bool:
    """True when this task itself was cancelled (stop), not an awaited future inside nats-py."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _stream_seq(msg: Msg) -> int | None:
    """The line's stream sequence, or None for a message that carries no JetStream metadata."""
    try:
        seq = msg.metadata.sequence.stream
    except Exception:
        return None
    return seq if isinstance(seq, int) else None


def _message_id_from_body(data: bytes) -> str | None:
    try:
        value = json.loads(data).get("message_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


async def _quietly(op: Awaitable[Any]) -> None:
    """An ack/nak lost with the link is fine: the server redelivers and the LRU drops the copy."""
    with contextlib.suppress(Exception):
        await op
