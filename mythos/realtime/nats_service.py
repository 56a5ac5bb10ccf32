"""The NATS link: connect, subscribe to chat and player events, publish chat.

Two seams for the NATS error-boundary work:
- publish path: `publish_chat(message) -> PublishOutcome`; `_publish_raw` is what retry,
  circuit breaker and dead-letter queue wrap (set `publisher` to route through them);
- consume path: every decoded message goes to `handler` (a `MessageCallback`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from mythos.config import NATSConfig
from mythos.observability.logging import get_logger
from mythos.realtime.chat import ChatMessage, subject_for

__all__ = ["SUBSCRIPTIONS", "MessageCallback", "NATSService", "PublishOutcome", "Publisher"]

log = get_logger(__name__)

SUBSCRIPTIONS = ("chat.>", "events.>")
MessageCallback = Callable[[ChatMessage], Awaitable[None]]
Publisher = Callable[[str, bytes, ChatMessage], Awaitable["PublishOutcome"]]


@dataclass(frozen=True)
class PublishOutcome:
    """What happened to one publish; `reason` is machine-readable when not delivered."""

    delivered: bool
    reason: str | None = None
    detail: str | None = None

    @classmethod
    def ok(cls) -> PublishOutcome:
        return cls(True)


async def _ignore(_message: ChatMessage) -> None:
    return None


class NATSService:
    """Owns the nats-py client; never raises into the game when NATS is down."""

    def __init__(self, config: NATSConfig, handler: MessageCallback | None = None) -> None:
        self.config = config
        self.handler: MessageCallback = handler or _ignore
        self.publisher: Publisher = self._publish_raw
        self._nc: Client | None = None
        self._state = "disabled" if not config.enabled else "disconnected"
        self._stopping = False
        self._connect_task: asyncio.Task[None] | None = None
        self.last_error: str | None = None

    # State

    @property
    def state(self) -> str:
        """disabled, disconnected, connected, reconnecting or closed."""
        return self._state

    @property
    def is_connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    def health(self) -> str:
        if self.is_connected:
            return "ok"
        if self._state == "reconnecting":
            return "degraded"
        return "down"

    # Lifecycle

    async def start(self) -> None:
        """Try once to connect; on failure keep trying in the background, so start never blocks."""
        if not self.config.enabled:
            log.info("nats_disabled")
            return
        self._stopping = False
        if not await self._connect_once():
            self._ensure_connect_loop()

    async def stop(self) -> None:
        self._stopping = True
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
                    servers=[cfg.url],
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
            self._state = "disconnected"
            log.warning("nats_connect_failed", url=cfg.url, error=self.last_error)
            return False
        self._nc = nc
        self._state = "connected"
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
            self._state = "reconnecting"
            log.warning("nats_disconnected")

    async def _on_reconnected(self) -> None:
        self._state = "connected"
        log.info("nats_reconnected")

    async def _on_closed(self) -> None:
        if self._stopping:
            return
        # nats-py gave up after max_reconnect_attempts: start over with a fresh client.
        self._state = "disconnected"
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
            log.exception("nats_handler_failed", subject=msg.subject, error=str(exc))

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
        try:
            await nc.publish(subject, payload)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("nats_publish_failed", subject=subject, error=self.last_error)
            return PublishOutcome(False, "publish_failed", self.last_error)
        return PublishOutcome.ok()

    @property
    def client(self) -> Client | None:
        """The live nats-py client, for the error-boundary wiring and tests."""
        return self._nc

    def describe(self) -> dict[str, Any]:
        return {"state": self._state, "url": self.config.url, "last_error": self.last_error}
