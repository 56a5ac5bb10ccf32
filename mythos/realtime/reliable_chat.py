"""Composition root of the NATS error boundaries for one mythos instance.

Wires the supervised link, the JetStream transport, the consume path (NATSMessageHandler), the
publish path (PublishGuard) and the outbox that sends this instance's queued chat once NATS is
back, around one DLQ and one MetricsCollector, so NATSService only has to call `start`,
`publish` and `stop`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from nats.aio.client import Client as NATS

from mythos.observability.logging import get_logger
from mythos.observability.metrics import MetricsCollector
from mythos.realtime.circuit_breaker import FIRST_OPEN_TIMEOUT, CircuitBreaker, CircuitState
from mythos.realtime.connection_state_machine import ConnectionState, Transition, metrics_observer
from mythos.realtime.dead_letter_queue import DeadLetterQueue
from mythos.realtime.jetstream import JetStreamChat, StreamSpec
from mythos.realtime.live_chat import LiveChat
from mythos.realtime.message_handler import DedupCache, NATSMessageHandler
from mythos.realtime.nats_link import LinkSettings, NATSLink
from mythos.realtime.outbox import WINDOW as OUTBOX_WINDOW
from mythos.realtime.outbox import Notify, Outbox
from mythos.realtime.publish_guard import PublishGuard, PublishResult
from mythos.realtime.retry import NATSRetryHandler, RetryConfig, is_permanent

__all__ = ["ReliableChat", "ReliableChatParts"]

log = get_logger(__name__)

FanOut = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(slots=True)
class ReliableChatParts:
    """Tunables; `from_config` reads them from config.nats."""

    link: LinkSettings
    publish_retry: RetryConfig
    consume_retry: RetryConfig
    breaker_failure_threshold: int = 5
    breaker_timeout_s: float = 5.0
    breaker_success_threshold: int = 2
    publish_deadline_s: float | None = None
    stream: StreamSpec = field(default_factory=StreamSpec)
    dedup_capacity: int = 10_000
    outbox_max_age_s: float = 120.0
    """CHAT_OUTBOX_MAX_AGE: queued chat older than this is left to the operators (0: no drain)."""
    live_chat: bool = False
    """Also send each line on core NATS and hand it over from there at once (ADR-007). On with a
    replicated stream (a NATS cluster, whose stream leader can be lost); a single server gains
    nothing from it when it dies, so it keeps the JetStream path alone."""
    live_hold_s: float = 2.0
    """Longest a live line waits for its sender's previous line (lost live copy) by either path."""

    @classmethod
    def from_config(cls, nats_config: Any, name: str) -> ReliableChatParts:
        retry = RetryConfig.from_nats_config(nats_config)
        return cls(
            link=LinkSettings.from_config(nats_config, name=name),
            publish_retry=retry,
            consume_retry=retry,
            breaker_failure_threshold=int(nats_config.breaker_failure_threshold),
            breaker_timeout_s=float(nats_config.breaker_timeout_seconds),
            breaker_success_threshold=int(nats_config.breaker_success_threshold),
            publish_deadline_s=float(nats_config.publish_deadline_seconds),
            stream=StreamSpec.from_config(nats_config),
            outbox_max_age_s=float(nats_config.chat_outbox_max_age_seconds),
            live_chat=int(nats_config.stream_replicas) > 1,
        )


class ReliableChat:
    def __init__(
        self,
        instance_id: str,
        parts: ReliableChatParts,
        dlq: DeadLetterQueue,
        fan_out: FanOut,
        metrics: MetricsCollector | None = None,
        notify_expired: Notify | None = None,
    ) -> None:
        self.instance_id = instance_id
        self.metrics = metrics or MetricsCollector()
        self.dlq = dlq
        self.dedup = DedupCache(parts.dedup_capacity)
        self.link = NATSLink(parts.link)
        self.link.fsm.add_observer(metrics_observer(self.metrics))
        self.jetstream = JetStreamChat(instance_id, parts.stream, self.dedup)
        self.live: LiveChat | None = None
        publish: Callable[[str, dict[str, Any]], Awaitable[Any]] = self.jetstream.publish
        if parts.live_chat:
            self.live = LiveChat(
                instance_id,
                fan_out,
                self.dedup,
                self.jetstream.claims,
                hold_s=parts.live_hold_s,
                processed=self.metrics.record_message_processed,
                durable_ready=lambda: self.link.state is ConnectionState.CONNECTED,
            )
            self.jetstream.on_handed_over = self.live.note_durable
            publish = self.live.publisher(self.jetstream.publish)

        def breaker() -> CircuitBreaker:
            return CircuitBreaker(
                failure_threshold=parts.breaker_failure_threshold,
                timeout=timedelta(seconds=parts.breaker_timeout_s),
                success_threshold=parts.breaker_success_threshold,
                excluded=is_permanent,
                first_timeout=FIRST_OPEN_TIMEOUT,
            )

        self.publish_breaker = breaker()
        self.publish_breaker.add_listener(self.metrics.set_circuit_breaker_state)
        self.link.attach_breaker(self.publish_breaker)
        self.outbox = Outbox(
            dlq,
            instance_id,
            self._drain_publish,
            ready=self._outbox_ready,
            max_age_s=parts.outbox_max_age_s,
            notify=notify_expired,
            window=self._outbox_window,
        )
        self.guard = PublishGuard(
            publish,
            dlq,
            retry=NATSRetryHandler(parts.publish_retry),
            breaker=self.publish_breaker,
            metrics=self.metrics,
            deadline_s=parts.publish_deadline_s,
            origin=instance_id,
            on_queued=self.outbox.note_queued,
        )
        # The outbox drains as soon as the link is back or the breaker lets publishes through.
        self.link.fsm.add_observer(self._wake_outbox_on_link)
        self.jetstream.on_fetched = self._stream_answered
        self.publish_breaker.add_listener(self._wake_outbox_on_breaker)
        # Fan-out failures are local (a player's socket), so they get their own breaker; an open one
        # naks the message for JetStream to redeliver rather than dead-lettering it.
        self.handler = NATSMessageHandler(
            fan_out,
            dlq,
            retry=NATSRetryHandler(parts.consume_retry),
            breaker=breaker(),
            metrics=self.metrics,
            dedup=self.dedup,
            dlq_when_open=False,
            export_breaker_state=False,
        )
        self.link.on_connected(self._bind)
        # Before the link closes a connection, stop fetching and acking through it.
        self.link.on_retire(self.jetstream.unbind)
        if self.live is not None:
            self.link.on_retire(self.live.unbind)

    async def _bind(self, nc: NATS) -> None:
        await self.jetstream.bind(nc)
        if self.live is not None:
            await self.live.bind(nc)

    def _outbox_ready(self) -> bool:
        """Link up and breaker not open: half-open lets the drain's first line be the probe, so
        queued chat does not wait for a player to speak before the breaker can close."""
        return self.link.is_connected and self.publish_breaker.state is not CircuitState.OPEN

    def _outbox_window(self) -> int:
        """A window of publishes while closed; one while half-open, where only the probe goes through."""
        return OUTBOX_WINDOW if self.publish_breaker.state is CircuitState.CLOSED else 1

    async def _drain_publish(self, subject: str, body: dict[str, Any]) -> None:
        """The outbox publishes through the breaker: its failures count like a player's."""
        await self.publish_breaker.call(self.jetstream.publish, subject, body)

    def _stream_answered(self) -> None:
        """The consumer fetched lines, so the stream answers again: an open breaker probes now
        instead of at the end of its open time (up to BREAKER_TIMEOUT after failed probes); a
        heal that leaves the link up (a NATS node cut off from its cluster) has no other sign."""
        self.publish_breaker.probe_on_evidence("the stream answered a fetch")

    def _wake_outbox_on_link(self, transition: Transition) -> None:
        if transition.event == "established":
            self.jetstream.link_back()
            self.outbox.wake()
        if transition.target is ConnectionState.CONNECTED and self.live is not None:
            self.live.durable_back()  # held live lines wait for the consumer to catch up

    def _wake_outbox_on_breaker(self, state: CircuitState) -> None:
        if state is not CircuitState.OPEN:
            self.outbox.wake()

    async def start(self) -> None:
        await self.dlq.get_pending_count()  # counted once; the gauge then follows the queue
        await self.jetstream.start_consumer(self.handler.handle)
        await self.link.start()
        await self.outbox.start()

    async def stop(self) -> None:
        await self.outbox.stop()
        await self.guard.drain()
        if self.live is not None:
            await self.live.stop()
        await self.jetstream.stop()
        await self.link.stop()

    async def publish(self, subject: str, message: dict[str, Any]) -> PublishResult:
        result = await self.guard.publish(subject, message)
        if self.live is not None and not result.sent and result.retry_after is not None:
            # The open breaker refused it before any attempt: the line is queued for the stream,
            # and players still get it live (a stream without a leader must not stop chat).
            await self.live.publish(subject, message)
        return result

    async def replay_dead_letters(self) -> tuple[int, int]:
        """Republish every DLQ entry to its subject; each is removed only once acknowledged."""

        async def republish(data: dict[str, Any]) -> None:
            body = {k: v for k, v in data.items() if k != "_subject"}
            await self.jetstream.publish(str(data["_subject"]), body)

        return await self.dlq.replay_all(republish)
