"""The outbox against a real nats-server: two servers sharing one DLQ directory queue chat while
nats-server is down; once it is back each drains only its own lines, in order, and both servers'
players see every line exactly once. A line older than CHAT_OUTBOX_MAX_AGE stays in the DLQ and
its sender is told once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mythos.realtime.chat import ChatMessage
from mythos.realtime.dead_letter_queue import DeadLetterQueue
from mythos.realtime.dlq_admin import dlq_dir
from mythos.realtime.nats_service import NATSService
from mythos.realtime.outbox import EXPIRED
from tests.factories import make_config

from .conftest import NatsServer

LINES_EACH = 40


def _service(tmp_path: Path, url: str, name: str, received: list[str]) -> NATSService:
    config = make_config(tmp_path, nats={"enabled": True, "url": url, "max_reconnect_attempts": -1,
                                         "ping_interval": 0.5})
    service = NATSService(config.nats, dlq=DeadLetterQueue(dlq_dir(config)), instance_id=name)

    async def handler(message: ChatMessage) -> None:
        received.append(message.message_id)

    service.handler = handler
    return service


async def _until(predicate: Any, within: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > within:
            raise AssertionError(f"{what} not within {within} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_each_server_drains_its_own_queued_chat_once_nats_is_back(
        killable_nats: NatsServer, tmp_path: Path) -> None:
    room = "hall_" + uuid.uuid4().hex[:6]
    got: dict[str, list[str]] = {"a": [], "b": []}
    services = {name: _service(tmp_path, killable_nats.url, f"srv-{name}-{uuid.uuid4().hex[:6]}", got[name])
                for name in ("a", "b")}
    notices: list[tuple[str, str, float]] = []
    for name, service in services.items():
        service.on_undelivered = lambda m, age, name=name: notices.append((name, m.message_id, age))
    for service in services.values():
        await service.start()
    try:
        assert all(s.is_connected for s in services.values())
        killable_nats.kill9()
        await _until(lambda: not any(s.is_connected for s in services.values()), 10, "link loss seen")

        said: dict[str, list[str]] = {"a": [], "b": []}
        for n in range(LINES_EACH):
            for name, service in services.items():
                message = ChatMessage(1 if name == "a" else 2, name, "say", f"{name} {n}", room_id=room)
                outcome = await service.publish_chat(message)
                assert (outcome.delivered, outcome.reason, outcome.queued_id) == (
                    False, "nats_unavailable", message.message_id)
                said[name].append(message.message_id)
        stale = ChatMessage(1, "a", "say", "said long ago", room_id=room,
                            timestamp=(datetime.now(UTC) - timedelta(seconds=130)).isoformat())
        assert (await services["a"].publish_chat(stale)).queued_id == stale.message_id
        dlq = services["a"].dlq
        assert dlq is not None and dlq.storage_path == services["b"].dlq.storage_path  # type: ignore[union-attr]
        assert await dlq.get_pending_count() == 2 * LINES_EACH + 1
        origins = Counter(e.origin for e in await dlq.list())
        assert sorted(origins.values()) == [LINES_EACH, LINES_EACH + 1]

        killable_nats.start()
        everything = said["a"] + said["b"]
        drained_s = await _until(lambda: all(set(everything) <= set(ids) for ids in got.values()), 30,
                                 "every queued line reached both servers")
        await asyncio.sleep(1.0)  # a second copy would land by now
        print(f"{2 * LINES_EACH} queued lines reached both servers {drained_s:.2f} s after nats-server restarted")
        for name, ids in got.items():
            counts = Counter(ids)
            assert not [i for i in everything if counts[i] != 1], f"server {name} saw a line twice"
            for sender in ("a", "b"):
                order = [i for i in ids if i in set(said[sender])]
                assert order == said[sender], f"server {name} saw {sender}'s lines out of order"
            assert stale.message_id not in ids
        left = await dlq.list()
        assert [(e.id, e.outbox, e.origin) for e in left] == [
            (stale.message_id, EXPIRED, services["a"].reliable.instance_id)]  # type: ignore[union-attr]
        assert [(n, m) for n, m, _ in notices] == [("a", stale.message_id)]
        assert notices[0][2] >= 130
    finally:
        for service in services.values():
            await service.stop()
