"""Live chat over a real nats-server: each line reaches the other instance once, at once on core
NATS, with its JetStream copy dropped as a duplicate; and it still arrives while JetStream
refuses publishes (the stream is gone), which is what a cluster electing a stream leader does."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import nats
import pytest

from mythos.realtime.jetstream import JetStreamChat, StreamSpec
from mythos.realtime.live_chat import LiveChat
from mythos.realtime.message_handler import DedupCache

from .conftest import NatsServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@dataclass
class Node:
    jetstream: JetStreamChat
    live: LiveChat
    got: Counter[str] = field(default_factory=Counter)
    order: list[str] = field(default_factory=list)


async def node(url: str, name: str, closers: list[Any]) -> Node:
    nc = await nats.connect(url, name=name)
    closers.append(nc)
    dedup = DedupCache()
    jetstream = JetStreamChat(name, StreamSpec(fetch_timeout_s=0.2, publish_timeout_s=0.5), dedup)
    made = Node(jetstream, LiveChat(name, lambda body: _noop(), dedup, jetstream.claims))

    async def fan_out(body: dict[str, Any]) -> None:
        made.got[body["message_id"]] += 1
        made.order.append(body["message_id"])

    async def deliver(data: bytes, _subject: str) -> None:
        import json

        await fan_out(json.loads(data))

    made.live.fan_out = fan_out
    jetstream.on_handed_over = made.live.note_durable
    await jetstream.bind(nc)
    await jetstream.start_consumer(deliver)
    await made.live.bind(nc)
    return made


async def _noop() -> None:
    return None


@pytest.fixture
async def pair(killable_nats: NatsServer) -> AsyncIterator[tuple[Node, Node]]:
    closers: list[Any] = []
    a = await node(killable_nats.url, "live-a", closers)
    b = await node(killable_nats.url, "live-b", closers)
    try:
        yield a, b
    finally:
        for made in (a, b):
            await made.live.stop()
            await made.jetstream.stop()
        for nc in closers:
            await nc.close()


def line(n: int) -> dict[str, Any]:
    return {
        "message_id": f"l{n}-{uuid.uuid4().hex[:6]}",
        "sender_id": "7",
        "sender_name": "ann",
        "channel": "say",
        "content": str(n),
        "room_id": "r1",
        "timestamp": "t",
    }


async def until(predicate: Any, within: float = 10.0) -> bool:
    for _ in range(int(within / 0.02)):
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())


async def test_each_line_arrives_once_in_order_and_the_durable_copy_is_dropped(pair: tuple[Node, Node]) -> None:
    a, b = pair
    publish = a.live.publisher(a.jetstream.publish)
    lines = [line(n) for n in range(20)]
    for body in lines:
        await publish("chat.say.r1", body)
    ids = [body["message_id"] for body in lines]
    assert await until(lambda: b.jetstream.duplicates_dropped + b.jetstream.delivered >= 20)
    assert b.order == ids and set(b.got.values()) == {1}
    assert b.live.delivered >= 1  # the live path carried lines, the stream kept them all
    assert b.jetstream.delivered + b.live.delivered == 20


async def test_live_lines_flow_while_jetstream_refuses_publishes(pair: tuple[Node, Node]) -> None:
    a, b = pair
    js = a.jetstream._require_js()
    await js.delete_stream(a.jetstream.spec.name)
    publish = a.live.publisher(a.jetstream.publish)
    body = line(1)
    with pytest.raises(Exception):
        await publish("chat.say.r1", body)
    assert await until(lambda: b.got[body["message_id"]] == 1, within=2.0)
