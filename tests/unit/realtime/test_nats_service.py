"""The core-NATS link (use_jetstream=False) against a real nats-server; failures forced with an
unused port or a fake publisher. JetStream mode: test_nats_service_jetstream.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from mythos.local_nats import LocalNatsServer, free_port
from mythos.realtime.chat import ChatMessage
from mythos.realtime.nats_service import NATSService, PublishOutcome
from tests.factories import make_config

CORE = {"enabled": True, "use_jetstream": False, "core_credibility_check": True}
"""Core NATS, as only the harness's credibility check may run it."""


async def test_disabled_service_refuses_chat(tmp_path: Path) -> None:
    service = NATSService(make_config(tmp_path).nats)
    await service.start()
    outcome = await service.publish_chat(ChatMessage(1, "A", "say", "hi", room_id="hall"))
    assert outcome == PublishOutcome(False, "nats_disabled", "chat is disabled on this server")
    assert (service.state, service.health()) == ("disabled", "down")
    await service.stop()


async def test_publish_is_delivered_through_the_subscription(
    tmp_path: Path, nats_server: LocalNatsServer
) -> None:
    received: asyncio.Queue[ChatMessage] = asyncio.Queue()
    config = make_config(tmp_path, nats={**CORE, "url": nats_server.url})
    service = NATSService(config.nats, handler=received.put)
    await service.start()
    try:
        assert service.is_connected and service.health() == "ok" and service.client is not None
        sent = ChatMessage(1, "A", "say", "hi", room_id="hall")
        assert (await service.publish_chat(sent)).delivered
        assert await asyncio.wait_for(received.get(), 5) == sent
        # Malformed bodies on our subjects are dropped without killing the subscription.
        await service.client.publish("chat.say.hall", b"garbage")
        assert (await service.publish_chat(ChatMessage(1, "A", "emote", "ok", room_id="hall"))).delivered
        assert (await asyncio.wait_for(received.get(), 5)).content == "ok"
        bad = await service.publish_chat(ChatMessage(1, "A", "shout", "x"))
        assert (bad.delivered, bad.reason) == (False, "invalid_message")
    finally:
        await service.stop()
    assert service.state == "closed"


async def test_a_failing_handler_does_not_stop_delivery(tmp_path: Path, nats_server: LocalNatsServer) -> None:
    seen: list[str] = []

    async def handler(message: ChatMessage) -> None:
        seen.append(message.content)
        if message.content == "boom":
            raise RuntimeError("handler bug")

    config = make_config(tmp_path, nats={**CORE, "url": nats_server.url})
    service = NATSService(config.nats, handler=handler)
    await service.start()
    try:
        for text in ("boom", "after"):
            await service.publish_chat(ChatMessage(1, "A", "say", text, room_id="hall"))
        for _ in range(100):
            if seen == ["boom", "after"]:
                break
            await asyncio.sleep(0.02)
        assert seen == ["boom", "after"]
    finally:
        await service.stop()


async def test_unreachable_nats_is_down_then_connects_when_it_appears(tmp_path: Path) -> None:
    port = free_port()
    config = make_config(
        tmp_path,
        nats={
            "enabled": True,
            "use_jetstream": False,
            "core_credibility_check": True,
            "url": f"nats://127.0.0.1:{port}",
            "reconnect_time_wait": 0.2,
            "connect_timeout": 1.0,
        },
    )
    service = NATSService(config.nats)
    await service.start()
    try:
        assert not service.is_connected and service.health() == "down"
        outcome = await service.publish_chat(ChatMessage(1, "A", "say", "hi", room_id="hall"))
        assert (outcome.delivered, outcome.reason) == (False, "nats_unavailable")
        with LocalNatsServer(port=port, store_dir=tmp_path / "js"):
            for _ in range(100):
                if service.is_connected:
                    break
                await asyncio.sleep(0.1)
            assert service.is_connected
            assert (await service.publish_chat(ChatMessage(1, "A", "say", "hi", room_id="hall"))).delivered
            assert service.state == "connected"
    finally:
        await service.stop()


async def test_publisher_seam_is_used(tmp_path: Path, nats_server: LocalNatsServer) -> None:
    calls: list[str] = []

    async def wrapped(subject: str, payload: bytes, message: ChatMessage) -> PublishOutcome:
        calls.append(subject)
        return PublishOutcome(False, "breaker_open")

    config = make_config(tmp_path, nats={**CORE, "url": nats_server.url})
    service = NATSService(config.nats)
    service.publisher = wrapped
    await service.start()
    try:
        outcome = await service.publish_chat(ChatMessage(1, "A", "say", "hi", room_id="hall"))
        assert (outcome.delivered, outcome.reason, calls) == (False, "breaker_open", ["chat.say.hall"])
    finally:
        await service.stop()


async def _eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


async def test_reconnects_after_the_server_restarts(tmp_path: Path) -> None:
    server = LocalNatsServer(store_dir=tmp_path / "js").start()
    config = make_config(
        tmp_path, nats={**CORE, "url": server.url, "reconnect_time_wait": 0.2}
    )
    service = NATSService(config.nats)
    await service.start()
    try:
        assert service.is_connected
        server.kill()
        assert await _eventually(lambda: service.state == "reconnecting")
        assert service.health() == "degraded"
        server.start()
        assert await _eventually(lambda: service.is_connected and service.state == "connected")
    finally:
        await service.stop()
        server.stop()


async def test_starts_over_when_nats_py_gives_up(tmp_path: Path) -> None:
    server = LocalNatsServer(store_dir=tmp_path / "js").start()
    config = make_config(
        tmp_path,
        nats={
            "enabled": True,
            "use_jetstream": False,
            "core_credibility_check": True,
            "url": server.url,
            "reconnect_time_wait": 0.1,
            "max_reconnect_attempts": 1,
        },
    )
    service = NATSService(config.nats)
    await service.start()
    try:
        server.kill()
        # nats-py closes the client after its attempts; the service keeps trying with a new one.
        assert await _eventually(lambda: service.client is None and service.state == "disconnected")
        server.start()
        assert await _eventually(lambda: service.is_connected)
    finally:
        await service.stop()
        server.stop()


def test_core_nats_is_refused_outside_the_harness_credibility_check(tmp_path: Path) -> None:
    """Core NATS has no retry, breaker or DLQ (chat in flight is lost): it is not a setting an
    operator can pick, only the known-weak configuration the harness shows failing (issue 12, 13)."""
    with pytest.raises(ValidationError) as info:
        make_config(tmp_path, nats={"enabled": True, "use_jetstream": False})
    assert "NATS_CORE_CREDIBILITY_CHECK" in str(info.value) and "dead-letter" in str(info.value)
    allowed = make_config(tmp_path, nats={"enabled": True, "use_jetstream": False, "core_credibility_check": True})
    assert NATSService(allowed.nats).mode == "core"
    # Disabled NATS, or JetStream, need no such setting.
    assert make_config(tmp_path, nats={"enabled": False, "use_jetstream": False}).nats.use_jetstream is False
