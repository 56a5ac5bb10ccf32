"""Composition root of the NATS error boundaries for one mythos instance.

Wires the supervised link, the JetStream transport, the consume path (NATSMessageHandler) and
the publish path (PublishGuard) around one DLQ and one MetricsCollector, so NATSService only has
to call `start`, `publish` and `stop`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from nats.aio.client import Client as NATS

from mythos.observability.logging import get_logger
from mythos.observability.metrics import MetricsCollector
from mythos.realtime.circuit_breaker import CircuitBreaker
from mythos.realtime.connection_state_machine import metrics_observer
from mythos.realtime.dead_letter_queue import DeadLetterQueue
from mythos.realtime.jetstream import JetStreamChat, StreamSpec
from mythos.realtime.message_handler import DedupCache, NATSMessageHandler
from mythos.realtime.nats_link import LinkSettings, NATSLink
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
        )


class ReliableChat:
    def __init__(
        self,
        instance_id: str,
        parts: ReliableChatParts,
        dlq: DeadLetterQueue,
        fan_out: FanOut,
        metrics: MetricsCollector | None = None,
    ) -> None:
        self.instance_id = instance_id
        self.metrics = metrics or MetricsCollector()
        self.dlq = dlq
        self.dedup = DedupCache(parts.dedup_capacity)
        self.link = NATSLink(parts.link)
        self.link.fsm.add_observer(metrics_observer(self.metrics))
        self.jetstream = JetStreamChat(instance_id, parts.stream, self.dedup)

        def breaker() -> CircuitBreaker:
            return CircuitBreaker(
                failure_threshold=parts.breaker_failure_threshold,
                timeout=timedelta(seconds=parts.breaker_timeout_s),
                success_threshold=parts.breaker_success_threshold,
                excluded=is_permanent,
            )

        self.publish_breaker = breaker()
        self.publish_breaker.add_listener(self.metrics.set_circuit_breaker_state)
        self.link.attach_breaker(self.publish_breaker)
        self.guard = PublishGuard(
            self.jetstream.publish,
            dlq,
            retry=NATSRetryHandler(parts.publish_retry),
            breaker=self.publish_breaker,
            metrics=self.metrics,
            deadline_s=parts.publish_deadline_s,
        )
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

    async def _bind(self, nc: NATS) -> None:
        await self.jetstream.bind(nc)

    async def start(self) -> None:
        await self.dlq.get_pending_count()  # counted once; the gauge then follows the queue
        await self.jetstream.start_consumer(self.handler.handle)
        await self.link.start()

    async def stop(self) -> None:
        await self.guard.drain()
        await self.jetstream.stop()
        await self.link.stop()

    async def publish(self, subject: str, message: dict[str, Any]) -> PublishResult:
        return await self.guard.publish(subject, message)

    async def replay_dead_letters(self) -> tuple[int, int]:
        """Republish every DLQ entry to its subject; each is removed only once acknowledged."""

        async def republish(data: dict[str, Any]) -> None:
            body = {k: v for k, v in data.items() if k != "_subject"}
            await self.jetstream.publish(str(data["_subject"]), body)

        return await self.dlq.replay_all(republish)
