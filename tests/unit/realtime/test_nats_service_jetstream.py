"""NATSService in JetStream mode (the default) against a real nats-server: the publish outcomes the
game sees, the consume path into the handler, replay, and the metrics. The breaker is forced open
by recording failures on it; an unreachable server is an unused port."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from mythos.local_nats import LocalNatsServer, free_port
from mythos.observability.metrics import MetricsCollector
from mythos.realtime.chat import ChatMessage
from mythos.realtime.dead_letter_queue import DeadLetterQueue
from mythos.realtime.dlq_admin import dlq_dir, entry_view, parse_duration, split_subject
from mythos.realtime.nats_service import NATSService, PublishOutcome
from tests.factories import make_config


def _service(
    tmp_path: Path, url: str, handler: Any = None, **nats: Any
) -> tuple[NATSService, DeadLetterQueue, MetricsCollector]:
    config = make_config(tmp_path, nats={"enabled": True, "url": url, **nats})
    dlq = DeadLetterQueue(dlq_dir(config))
    metrics = MetricsCollector()
    service = NATSService(config.nats, handler, dlq=dlq, metrics=metrics, instance_id=uuid.uuid4().hex[:12])
    return service, dlq, metrics


def _room() -> str:
    return "room_" + uuid.uuid4().hex[:8]


def test_jetstream_mode_needs_a_dead_letter_queue(tmp_path: Path) -> None:
    config = make_config(tmp_path, nats={"enabled": True})
    with pytest.raises(ValueError, match="dead-letter queue"):
        NATSService(config.nats)


async def test_chat_goes_through_the_stream_to_the_handler(tmp_path: Path, nats_server: LocalNatsServer) -> None:
    received: asyncio.Queue[ChatMessage] = asyncio.Queue()
    service, dlq, metrics = _service(tmp_path, nats_server.url, received.put)
    await service.start()
    try:
        assert (service.mode, service.state, service.health()) == ("jetstream", "connected", "ok")
        sent = ChatMessage(1, "A", "say", "through the stream", room_id=_room())
        assert await service.publish_chat(sent) == PublishOutcome.ok()
        assert await asyncio.wait_for(received.get(), 5) == sent
        for _ in range(50):  # the processed count follows the handler's return
            if metrics.get_metrics()["nats"]["messages_processed"].get("say"):
                break
            await asyncio.sleep(0.02)
        m = metrics.get_metrics()["nats"]
        assert (m["messages_processed"], m["publish_count"], m["connection_state"]) == ({"say": 1}, 1, "connected")
        assert await dlq.get_pending_count() == 0
        assert service.reliable is not None and service.client is not None
        assert service.reliable.publish_breaker.state.value == "closed"
        assert service.reliable.jetstream.consumer_running is True
    finally:
        await service.stop()
    assert (service.state, service.health()) == ("closed", "down")


async def test_open_breaker_queues_chat_and_leaves_movement_to_local_delivery(
    tmp_path: Path, nats_server: LocalNatsServer
) -> None:
    received: asyncio.Queue[ChatMessage] = asyncio.Queue()
    service, dlq, metrics = _service(tmp_path, nats_server.url, received.put, breaker_timeout_seconds=60)
    await service.start()
    try:
        assert service.reliable is not None
        breaker = service.reliable.publish_breaker
        for _ in range(service.config.breaker_failure_threshold):
            breaker.after_failure(ConnectionError("forced"), breaker.before_call())
        assert service.breaker_open and service.health() == "degraded" and service.state == "circuit_open"
        chat = ChatMessage(1, "A", "say", "held back", room_id=_room())
        outcome = await service.publish_chat(chat)
        assert (outcome.delivered, outcome.reason, outcome.queued_id) == (False, "breaker_open", chat.message_id)
        assert outcome.detail is not None and "resent" in outcome.detail
        entered = ChatMessage(1, "A", "player_entered", "A arrives", room_id=_room())
        assert (await service.publish_chat(entered)).reason == "nats_unavailable"
        assert [e.id for e in await dlq.list()] == [chat.message_id]  # movement is never queued
        m = metrics.get_metrics()["nats"]
        assert (m["circuit_breaker_state"], m["dlq_depth"], m["messages_dlq"]) == (
            "open",
            1,
            {"say": 1},
        )
        # Replay goes straight to the stream (an operator's decision), then the entry is removed.
        assert await dlq.replay(chat.message_id, service.republish)
        assert await asyncio.wait_for(received.get(), 5) == chat
        assert await service.refresh_dlq_depth() == 0
    finally:
        await service.stop()


async def test_link_down_queues_chat_at_once_and_replay_keeps_it(tmp_path: Path) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    service, dlq, _metrics = _service(tmp_path, url, connect_timeout=0.3)
    await service.start()
    try:
        assert not service.is_connected and service.health() == "degraded"
        chat = ChatMessage(1, "A", "emote", "waves into the void", room_id="hall")
        outcome = await service.publish_chat(chat)
        assert (outcome.delivered, outcome.reason, outcome.queued_id) == (False, "nats_unavailable", chat.message_id)
        assert not await dlq.replay(chat.message_id, service.republish)
        entry = await dlq.get(chat.message_id)
        assert entry is not None and entry.replay_attempts == 1 and "not connected" in entry.error
    finally:
        await service.stop()


async def test_malformed_stream_messages_are_dead_lettered_once(tmp_path: Path, nats_server: LocalNatsServer) -> None:
    seen: list[ChatMessage] = []

    async def handler(message: ChatMessage) -> None:
        seen.append(message)

    service, dlq, metrics = _service(tmp_path, nats_server.url, handler)
    await service.start()
    try:
        assert service.client is not None
        js = service.client.jetstream()
        room = _room()
        # Passes the schema check but is not a ChatMessage (no sender_name): permanent, no retry.
        message_id = uuid.uuid4().hex
        body = {"message_id": message_id, "sender_id": 1, "channel": "say", "content": "x", "timestamp": "t"}
        await js.publish(f"chat.say.{room}", json.dumps(body).encode())
        await js.publish(f"chat.say.{room}", b"not json at all")
        for _ in range(100):
            if await dlq.get_pending_count() == 2:
                break
            await asyncio.sleep(0.05)
        assert await dlq.get_pending_count() == 2 and not seen
        assert metrics.get_metrics()["nats"]["messages_dlq_total"] == 2
        first = await dlq.get(message_id)
        assert first is not None and first.retry_count == 1  # one attempt: permanent, not retried
        with pytest.raises(KeyError):  # a consumed message has no subject to replay to
            split_subject(first.message)
    finally:
        await service.stop()


def test_durations_and_entry_views() -> None:
    assert parse_duration("90s").total_seconds() == 90
    assert parse_duration("30m").total_seconds() == 1800
    assert parse_duration("12h").total_seconds() == 43200
    assert parse_duration("7d").days == 7 and parse_duration("2w").days == 14
    assert parse_duration("5").total_seconds() == 5
    for bad in ("", "soon", "-1d", "3y"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert split_subject({"_subject": "chat.global", "content": "x"}) == ("chat.global", {"content": "x"})


async def test_entry_view_shows_subject_and_body(tmp_path: Path) -> None:
    dlq = DeadLetterQueue(tmp_path / "dlq")
    entry_id = await dlq.enqueue({"message_id": "m1", "channel": "say", "_subject": "chat.say.hall"}, "boom", 2)
    entry = await dlq.get(entry_id)
    assert entry is not None
    view = entry_view(entry)
    assert (view["id"], view["subject"], view["channel"], view["retry_count"]) == ("m1", "chat.say.hall", "say", 2)
    assert "message" in view and "message" not in entry_view(entry, with_body=False)
