"""`mythos dlq replay`'s engine: its own connection to a real nats-server, in both transports."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import nats
import pytest

from mythos.local_nats import LocalNatsServer, free_port
from mythos.realtime.chat import ChatMessage
from mythos.realtime.dead_letter_queue import DeadLetterQueue
from mythos.realtime.dlq_admin import SUBJECT_KEY
from mythos.realtime.dlq_replay import replay_with_own_connection
from tests.factories import make_config


async def _queue_one(dlq: DeadLetterQueue, room: str) -> ChatMessage:
    message = ChatMessage(1, "A", "say", "from the queue", room_id=room)
    await dlq.enqueue({**message.to_dict(), SUBJECT_KEY: f"chat.say.{room}"}, "NATS link down", 0)
    return message


@pytest.mark.parametrize("use_jetstream", [True, False])
async def test_replay_publishes_and_then_removes(
    tmp_path: Path, nats_server: LocalNatsServer, use_jetstream: bool
) -> None:
    nats_settings = {"enabled": True, "url": nats_server.url, "use_jetstream": use_jetstream}
    config = make_config(tmp_path, nats={**nats_settings, "core_credibility_check": not use_jetstream})
    dlq = DeadLetterQueue(tmp_path / "dlq")
    room = "r" + uuid.uuid4().hex[:8]
    listener = await nats.connect(nats_server.url)
    try:
        sub = await listener.subscribe(f"chat.say.{room}")
        await listener.flush()
        message = await _queue_one(dlq, room)
        await dlq.enqueue({"raw": "garbage", "subject": "chat.say.x"}, "not JSON", 0)  # no subject: kept
        assert await replay_with_own_connection(config, dlq) == (1, 1)
        got = await sub.next_msg(timeout=5)
        assert ChatMessage.from_bytes(got.data) == message
        if use_jetstream:
            assert got.headers is not None and got.headers["Nats-Msg-Id"] == message.message_id
        assert await replay_with_own_connection(config, dlq, [message.message_id]) == (0, 1)
    finally:
        await listener.close()


async def test_replay_without_nats_keeps_everything(tmp_path: Path) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    config = make_config(tmp_path, nats={"enabled": True, "url": url, "connect_timeout": 0.3})
    dlq = DeadLetterQueue(tmp_path / "dlq")
    await _queue_one(dlq, "hall")
    with pytest.raises((ConnectionError, OSError, asyncio.TimeoutError, nats.errors.Error)):
        await replay_with_own_connection(config, dlq)
    assert await dlq.get_pending_count() == 1
