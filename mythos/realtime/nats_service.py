"""The NATS link: connect, subscribe to chat and player events, publish chat.

Two transports behind one interface, chosen by `config.nats.use_jetstream`:
- JetStream (the default): `ReliableChat` supervises the link, publishes through retry, the
  circuit breaker and the dead-letter queue, and consumes from a durable per-instance consumer,
  so chat survives an instance being cut off from NATS;
- core NATS: at-most-once, kept as the known-weak configuration the chaos harness must show failing.

Seams: `publish_chat(message) -> PublishOutcome` goes through `publisher`; every decoded incoming
message goes to `handler` (a `MessageCallback`); a queued line the outbox will not send (older than
CHAT_OUTBOX_MAX_AGE) goes to `on_undelivered`, so its sender is told. Both transports feed one
`MetricsCollector`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from mythos.config import NATSConfig
from mythos.observability.logging import get_logger
from mythos.observability.metrics import MetricsCollector
from mythos.realtime.chat import ChatMessage, subject_for
from mythos.realtime.circuit_breaker import CircuitState
from mythos.realtime.dead_letter_queue import DeadLetterQueue
from mythos.realtime.dlq_admin import split_subject
from mythos.realtime.reliable_chat import ReliableChat, ReliableChatParts
from mythos.realtime.retry import PermanentError

__all__ = ["SUBSCRIPTIONS", "MessageCallback", "NATSService", "PublishOutcome", "Publisher", "UndeliveredCallback"]

log = get_logger(__name__)

SUBSCRIPTIONS = ("chat.>", "events.>")
# Movement news is delivered locally when NATS cannot take it; it is never dead-lettered
# (replaying "X arrives" minutes later would be wrong).
EVENT_CHANNELS = frozenset({"player_entered", "player_left"})
FIRST_CONNECT_WAIT_S = 2.0
MessageCallback = Callable[[ChatMessage], Awaitable[None]]
UndeliveredCallback = Callable[[ChatMessage, float], None]
"""`(message, age_s)`: a queued line of this server's that will not be sent automatically."""
Publisher = Callable[[str, bytes, ChatMessage], Awaitable["PublishOutcome"]]


@dataclass(frozen=True)
class PublishOutcome:
    """What happened to one publish; `reason` is machine-readable when not delivered."""

    delivered: bool
    reason: str | None = None
    detail: str | None = None
    queued_id: str | None = None  # the dead-letter entry holding the message for replay

    @classmethod
    def ok(cls) -> PublishOutcome:
        return cls(True)


async def _ignore(_message: ChatMessage) -> None:
    return None


class NATSService:
    """Owns the NATS transport; never raises into the game when NATS is down.

    JetStream mode needs `dlq` (where undeliverable chat is kept for replay) and an `instance_id`
    that is unique per mythos process and stable across its restarts (it names the durable consumer).
    """

    def __init__(
        self,
        config: NATSConfig,
        handler: MessageCallback | None = None,
        *,
        dlq: DeadLetterQueue | None = None,
        metrics: MetricsCollector | None = None,
        instance_id: str = "mythos",
    ) -> None:
        self.config = config
        self.handler: MessageCallback = handler or _ignore
        self.on_undelivered: UndeliveredCallback | None = None
        self.publisher: Publisher = self._publish_raw
        self.metrics = metrics or MetricsCollector()
        self.dlq = dlq
        self.reliable: ReliableChat | None = None
        self._nc: Client | None = None
        self._state = "disabled" if not config.enabled else "disconnected"
        self._stopping = False
        self._connect_task: asyncio.Task[None] | None = None
        self.last_error: str | None = None
        if dlq is not None:
            dlq.watch_depth(self.metrics.set_dlq_depth)
        if config.enabled and config.use_jetstream:
            if dlq is None:
                raise ValueError("JetStream mode needs a dead-letter queue (dlq=...)")
            parts = ReliableChatParts.from_config(config, name=f"mythos-{instance_id}")
            self.reliable = ReliableChat(instance_id, parts, dlq, self._fan_out, self.metrics,
                                         notify_expired=self._undelivered)
            self.publisher = self._publish_reliable

    # State

    @property
    def mode(self) -> str:
        """jetstream, core or disabled."""
        if not self.config.enabled:
            return "disabled"
        return "jetstream" if self.reliable is not None else "core"

    @property
    def state(self) -> str:
        """disabled, disconnected, connecting, connected, reconnecting, circuit_open or closed."""
        if self.reliable is not None and self._state != "closed":
            return self.reliable.link.state.value
        return self._state

    @property
    def is_connected(self) -> bool:
        if self.reliable is not None:
            return self.reliable.link.is_connected
        return self._nc is not None and self._nc.is_connected

    @property
    def breaker_open(self) -> bool:
        return self.reliable is not None and self.reliable.publish_breaker.state is CircuitState.OPEN

    @property
    def breaker_closed(self) -> bool:
        """False while the publish breaker is open or half-open (probing): chat is not yet trusted."""
        return self.reliable is None or self.reliable.publish_breaker.state is CircuitState.CLOSED

    def health(self) -> str:
        """ok, degraded (enabled but chat cannot flow now, or the breaker is not closed) or down
        (disabled or given up)."""
        if self.reliable is not None:
            if self._state == "closed":
                return "down"
            return "ok" if self.is_connected and self.breaker_closed else "degraded"
        if self.is_connected:
            return "ok"
        if self._state == "reconnecting":
            return "degraded"
        return "down"

    def _set_state(self, state: str) -> None:
        self._state = state
        if state in ("disconnected", "connected", "reconnecting"):
            self.metrics.set_connection_state(state)

    # Lifecycle

    async def start(self) -> None:
        """Try once to connect; on failure keep trying in the background, so start never blocks."""
        if not self.config.enabled:
            log.info("nats_disabled")
            return
        self._stopping = False
        if self.reliable is not None:
            self._state = "starting"
            await self.reliable.start()
            wait = min(self.config.connect_timeout, FIRST_CONNECT_WAIT_S)
            if not await self.reliable.link.wait_connected(wait):
                log.warning("nats_not_connected_at_start", url=self.config.url, waited_s=wait)
            return
        if not await self._connect_once():
            self._ensure_connect_loop()

    async def stop(self) -> None:
        self._stopping = True
        if self.reliable is not None:
            await self.reliable.stop()
            self._state = "closed"
            return
        if self._connect_task is not None:
            self._connect_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connect_task
            self._connect_task = None
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.drain(), timeout=2.0)
            with contextlib.suppress(Exception):
                await nc.close()
        self._state = "closed" if self.config.enabled else "disabled"

    async def _connect_once(self) -> bool:
        cfg = self.config
        try:
            nc = await asyncio.wait_for(
                nats.connect(
                    servers=cfg.servers,
                    dont_randomize=cfg.dont_randomize,
                    name="mythos",
                    connect_timeout=cfg.connect_timeout,
                    reconnect_time_wait=cfg.reconnect_time_wait,
                    max_reconnect_attempts=cfg.max_reconnect_attempts,
                    ping_interval=cfg.ping_interval,
                    max_outstanding_pings=cfg.max_outstanding_pings,
                    allow_reconnect=True,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    closed_cb=self._on_closed,
                ),
                timeout=cfg.connect_timeout + 1.0,
            )
            for subject in SUBSCRIPTIONS:
                await nc.subscribe(subject, cb=self._on_msg)
            await nc.flush(timeout=cfg.connect_timeout)  # type: ignore[arg-type]
        except Exception as exc:  # nats-py raises many types; all mean "not connected yet"
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._set_state("disconnected")
            log.warning("nats_connect_failed", url=cfg.url, error=self.last_error)
            return False
        self._nc = nc
        self._set_state("connected")
        log.info("nats_connected", url=cfg.url)
        return True

    def _ensure_connect_loop(self) -> None:
        if self._stopping or (self._connect_task is not None and not self._connect_task.done()):
            return
        self._connect_task = asyncio.get_running_loop().create_task(self._connect_loop())

    async def _connect_loop(self) -> None:
        delay = max(self.config.reconnect_time_wait, 0.2)
        while not self._stopping and not self.is_connected:
            await asyncio.sleep(delay)
            if await self._connect_once():
                return

    # nats-py callbacks

    async def _on_error(self, exc: Exception) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("nats_error", error=self.last_error)

    async def _on_disconnected(self) -> None:
        if not self._stopping:
            self._set_state("reconnecting")
            log.warning("nats_disconnected")

    async def _on_reconnected(self) -> None:
        self._set_state("connected")
        self.metrics.record_reconnect()
        log.info("nats_reconnected")

    async def _on_closed(self) -> None:
        if self._stopping:
            return
        # nats-py gave up after max_reconnect_attempts: start over with a fresh client.
        self._set_state("disconnected")
        self._nc = None
        log.warning("nats_closed_restarting")
        self._ensure_connect_loop()

    # Consume path

    async def _on_msg(self, msg: Msg) -> None:
        try:
            message = ChatMessage.from_bytes(msg.data)
        except ValueError as exc:
            log.warning("nats_message_malformed", subject=msg.subject, error=str(exc))
            return
        try:
            await self.handler(message)
        except Exception as exc:  # a handler bug must not kill the subscription
            self.metrics.record_message_failed(message.channel)
            log.exception("nats_handler_failed", subject=msg.subject, error=str(exc))
            return
        self.metrics.record_message_processed(message.channel)

    def _undelivered(self, data: dict[str, Any], age_s: float) -> None:
        """The outbox refused a queued line as too old: tell its sender through `on_undelivered`."""
        try:
            message = ChatMessage.from_dict(data)
        except ValueError as exc:
            log.warning("chat_undelivered_unreadable", error=str(exc))
            return
        if self.on_undelivered is not None:
            self.on_undelivered(message, age_s)

    async def _fan_out(self, data: dict[str, Any]) -> None:
        """JetStream consume path: ReliableChat's handler calls this inside breaker and retry."""
        try:
            message = ChatMessage.from_dict(data)
        except ValueError as exc:
            raise PermanentError(str(exc)) from exc
        await self.handler(message)

    # Publish path

    async def publish_chat(self, message: ChatMessage) -> PublishOutcome:
        """Publish one message on its subject; the single door for outgoing chat and events."""
        if not self.config.enabled:
            return PublishOutcome(False, "nats_disabled", "chat is disabled on this server")
        try:
            subject = subject_for(message)
        except ValueError as exc:
            return PublishOutcome(False, "invalid_message", str(exc))
        return await self.publisher(subject, message.to_bytes(), message)

    async def _publish_raw(self, subject: str, payload: bytes, _message: ChatMessage) -> PublishOutcome:
        nc = self._nc
        if nc is None or not nc.is_connected:
            return PublishOutcome(False, "nats_unavailable", self.last_error)
        started = time.perf_counter()
        try:
            await nc.publish(subject, payload)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("nats_publish_failed", subject=subject, error=self.last_error)
            return PublishOutcome(False, "publish_failed", self.last_error)
        self.metrics.observe_publish_latency(time.perf_counter() - started)
        return PublishOutcome.ok()

    async def _publish_reliable(self, subject: str, _payload: bytes, message: ChatMessage) -> PublishOutcome:
        """Chat: acknowledged by the stream, or dead-lettered and the sender told it is queued."""
        reliable = self.reliable
        assert reliable is not None
        body = message.to_dict()
        if message.channel in EVENT_CHANNELS:
            return await self._publish_event(reliable, subject, body, message.message_id)
        if not reliable.link.is_connected:
            # A publish now would only wait out its timeouts: queue it at once.
            result = await reliable.guard.dead_letter_now(subject, body, "NATS link down")
            return PublishOutcome(False, "nats_unavailable", result.user_message, result.dlq_id)
        result = await reliable.publish(subject, body)
        if result.sent:
            return PublishOutcome.ok()
        reason = "breaker_open" if result.retry_after is not None else "publish_failed"
        self.last_error = result.reason
        return PublishOutcome(False, reason, result.user_message, result.dlq_id)

    async def _publish_event(
        self, reliable: ReliableChat, subject: str, body: dict[str, Any], message_id: str
    ) -> PublishOutcome:
        """One try, no DLQ: on failure the caller delivers locally."""
        if not reliable.link.is_connected or self.breaker_open:
            return PublishOutcome(False, "nats_unavailable", self.last_error)
        try:
            await reliable.jetstream.publish(subject, body)
        except Exception as exc:
            # The stream may have stored it after all: drop that copy when it comes back.
            reliable.dedup.add(message_id)
            self.last_error = f"{type(exc).__name__}: {exc}"
            return PublishOutcome(False, "publish_failed", self.last_error)
        return PublishOutcome.ok()

    # Dead-letter replay

    async def republish(self, message_data: dict[str, Any]) -> None:
        """Publish one dead-lettered message again; returns only once the server took it.

        JetStream: the stream's ack (Nats-Msg-Id makes a repeat harmless). Core NATS: a flush.
        Raises when it could not, so the DLQ keeps the entry.
        """
        subject, body = split_subject(message_data)
        if self.reliable is not None:
            if not self.reliable.link.is_connected:
                raise ConnectionError("NATS is not connected")
            started = time.perf_counter()
            await self.reliable.jetstream.publish(subject, body)
            self.metrics.observe_publish_latency(time.perf_counter() - started)
            return
        nc = self._nc
        if nc is None or not nc.is_connected:
            raise ConnectionError("NATS is not connected")
        await nc.publish(subject, ChatMessage.from_dict(body).to_bytes())
        await nc.flush(timeout=self.config.connect_timeout)  # type: ignore[arg-type]

    async def refresh_dlq_depth(self) -> int:
        """Count the DLQ directory again (admin routes: the exact figure after an admin action)."""
        return await self.dlq.get_pending_count() if self.dlq is not None else 0

    async def sync_dlq_depth(self) -> int:
        """The DLQ depth for a scrape: kept in memory, recounted only when another process (the
        `mythos dlq` CLI) changed the directory (DeadLetterQueue.refresh_depth)."""
        return await self.dlq.refresh_depth() if self.dlq is not None else 0

    @property
    def client(self) -> Client | None:
        """The live nats-py client, for the error-boundary wiring and tests."""
        if self.reliable is not None:
            return self.reliable.link.nc
        return self._nc
