"""Two mythos instances exchange room chat over a real nats-server with JetStream while the
server is SIGKILLed mid-stream or stopped for 10 s. Every message a sender was told was sent
reaches both instances exactly once; every other message is in the DLQ and is delivered after
replay. The file store survives SIGKILL (page cache), not power loss: that is what this proves.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mythos.realtime.dead_letter_queue import DeadLetterQueue
from mythos.realtime.jetstream import JetStreamChat, StreamSpec
from mythos.realtime.nats_link import LinkSettings
from mythos.realtime.reliable_chat import ReliableChat, ReliableChatParts
from mythos.realtime.retry import RetryConfig

from .conftest import NatsServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOM = "arkham_001"
DELIVERY_DEADLINE_S = 30.0


@dataclass
class Instance:
    chat: ReliableChat
    received: Counter[str] = field(default_factory=Counter)
    first_seen: dict[str, float] = field(default_factory=dict)


def parts(url: str, name: str) -> ReliableChatParts:
    return ReliableChatParts(
        link=LinkSettings(
            url=url,
            name=name,
            connect_timeout=1.0,
            reconnect_time_wait=0.2,
            max_reconnect_attempts=5,
            ping_interval=1.0,
            max_outstanding_pings=2,
            watchdog_seconds=3.0,
            backoff_base=0.1,
            backoff_max=1.0,
        ),
        publish_retry=RetryConfig(max_attempts=3, base_delay=0.05, max_delay=0.5),
        consume_retry=RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.1),
        breaker_failure_threshold=5,
        breaker_timeout_s=1.0,
        stream=StreamSpec(publish_timeout_s=0.5, ack_wait_s=2.0, fetch_timeout_s=0.3),
    )


def chat_message(sender: str, n: int) -> dict[str, Any]:
    return {
        "message_id": f"{sender}-{n}-{uuid.uuid4().hex[:8]}",
        "sender_id": sender,
        "sender_name": sender,
        "channel": "say",
        "content": f"message {n} from {sender}",
        "timestamp": time.time(),
        "room_id": ROOM,
    }


@pytest.fixture
async def instances(killable_nats: NatsServer, tmp_path: Path) -> AsyncIterator[list[Instance]]:
    made: list[Instance] = []
    for name in ("a", "b"):
        inst: Instance

        async def fan_out(message: dict[str, Any], _name: str = name) -> None:
            target = next(i for i in made if i.chat.instance_id == _name)
            target.received[message["message_id"]] += 1
            target.first_seen.setdefault(message["message_id"], time.monotonic())

        inst = Instance(
            ReliableChat(name, parts(killable_nats.url, name), DeadLetterQueue(tmp_path / f"dlq-{name}"), fan_out)
        )
        made.append(inst)
    for inst in made:
        await inst.chat.start()
        assert await inst.chat.link.wait_connected(10), "instance did not connect"
    try:
        yield made
    finally:
        for inst in made:
            await inst.chat.stop()


async def wait_until(predicate: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


async def exchange(
    instances: list[Instance], count: int, fault_at: int, fault: Callable[[], Any], gap_s: float = 0.01
) -> tuple[dict[str, dict[str, Any]], float, float | None]:
    """Both instances publish alternately, without pausing, while `fault` runs in the background
    once `fault_at` messages are out; publishing continues until the fault has healed.

    Returns {message_id: {"sent", "dlq_id", "sender"}}, the heal time and the first ack after it.
    """
    outcomes: dict[str, dict[str, Any]] = {}
    fault_task: asyncio.Task[float] | None = None
    first_ack_after_heal: float | None = None
    n = 0
    while n < count or fault_task is None or not fault_task.done() or first_ack_after_heal is None:
        if n == fault_at:
            fault_task = asyncio.create_task(fault())
        sender = instances[n % 2]
        message = chat_message(sender.chat.instance_id, n)
        result = await sender.chat.publish(f"chat.say.{ROOM}", message)
        outcomes[message["message_id"]] = {"sent": result.sent, "dlq_id": result.dlq_id, "sender": sender}
        if result.sent and fault_task is not None and fault_task.done() and first_ack_after_heal is None:
            first_ack_after_heal = time.monotonic()
        n += 1
        await asyncio.sleep(gap_s)
        assert n < count * 20, "publishing never recovered"
    return outcomes, fault_task.result(), first_ack_after_heal


async def check_no_loss(instances: list[Instance], outcomes: dict[str, dict[str, Any]]) -> dict[str, int]:
    sent = {m for m, o in outcomes.items() if o["sent"]}
    dead = {m for m, o in outcomes.items() if not o["sent"]}
    assert all(outcomes[m]["dlq_id"] == m for m in dead), "every unsent message has its DLQ entry"
    for inst in instances:
        received = inst.received

        def has_all_sent(r: Counter[str] = received) -> bool:
            return sent <= set(r)

        assert await wait_until(has_all_sent, DELIVERY_DEADLINE_S), (
            f"{inst.chat.instance_id} is missing acked messages: {sorted(sent - set(received))[:5]}"
        )
    # The DLQ holds only messages senders were told failed, those its outbox has not sent yet
    # (it drains them once NATS is back); replay publishes whatever is left.
    for inst in instances:
        pending = {e.id for e in await inst.chat.dlq.list()}
        assert pending <= {m for m in dead if outcomes[m]["sender"] is inst}
        replayed, left = await inst.chat.replay_dead_letters()
        assert left == 0 and replayed <= len(pending)
    everything = set(outcomes)
    for inst in instances:
        received = inst.received

        def has_everything(r: Counter[str] = received) -> bool:
            return everything <= set(r)

        assert await wait_until(has_everything, DELIVERY_DEADLINE_S)
        duplicates = {m: c for m, c in inst.received.items() if c > 1}
        assert duplicates == {}, f"duplicates reached players on {inst.chat.instance_id}"
        assert set(inst.received) == everything
    return {"sent": len(sent), "dead_lettered_then_replayed": len(dead), "total": len(everything)}


async def test_sigkill_mid_stream_then_restart(killable_nats: NatsServer, instances: list[Instance]) -> None:
    async def kill_and_restart() -> float:
        killable_nats.kill9()
        await asyncio.sleep(1.0)
        killable_nats.start()
        return time.monotonic()

    outcomes, healed_at, first_ack = await exchange(instances, 200, 100, kill_and_restart)
    figures = await check_no_loss(instances, outcomes)
    assert first_ack is not None
    recovery = first_ack - healed_at
    print(f"\nSIGKILL: {figures}, publish recovery {recovery:.3f}s after restart")
    assert recovery < 10.0
    assert figures["sent"] >= 100


@pytest.mark.slow  # a long real outage: make verify only; make test keeps the shorter ones
async def test_stopped_for_ten_seconds(killable_nats: NatsServer, instances: list[Instance]) -> None:
    """Longer than nats-py's own reconnect budget: the link must come back from scratch."""

    async def stop_ten_seconds() -> float:
        killable_nats.stop()
        await asyncio.sleep(10.0)
        killable_nats.start()
        return time.monotonic()

    outcomes, healed_at, first_ack = await exchange(instances, 120, 60, stop_ten_seconds)
    figures = await check_no_loss(instances, outcomes)
    assert first_ack is not None
    assert figures["dead_lettered_then_replayed"] > 0  # the outage really refused chat
    link_recovery = [
        t.at - healed_at
        for inst in instances
        for t in inst.chat.link.fsm.history
        if t.event == "established" and t.at >= healed_at
    ]
    print(f"\nstop 10s: {figures}, publish recovery {first_ack - healed_at:.3f}s, link recovery {link_recovery}")
    assert len(link_recovery) >= 2 and max(link_recovery) < 10.0
    for inst in instances:
        assert inst.chat.metrics.get_metrics()["nats"]["reconnects"] >= 1
        assert inst.chat.link.fresh_connects >= 2  # nats-py gave up; the supervisor reconnected


async def test_publish_is_idempotent_by_message_id(killable_nats: NatsServer, tmp_path: Path) -> None:
    import nats

    nc = await nats.connect(killable_nats.url)
    try:
        chat = JetStreamChat("solo")
        await chat.bind(nc)
        message = chat_message("solo", 1)
        first = await chat.publish(f"chat.say.{ROOM}", message)
        again = await chat.publish(f"chat.say.{ROOM}", message)
        assert (bool(first.duplicate), again.duplicate) == (False, True)
        assert again.seq == first.seq
        info = await nc.jetstream().stream_info(chat.spec.name)
        assert info.state.messages == 1
        assert json.loads(json.dumps(message))["message_id"] == message["message_id"]
    finally:
        await nc.close()


async def test_failed_fan_out_is_naked_and_redelivered_once_acked(killable_nats: NatsServer) -> None:
    """No ack before fan-out succeeded: a failing deliver (breaker open, or any error) gets the
    message again; a message without the header is deduplicated by its body's message_id."""
    import nats

    from mythos.realtime.circuit_breaker import CircuitBreakerOpen

    nc = await nats.connect(killable_nats.url)
    chat = JetStreamChat("redeliver", StreamSpec(fetch_timeout_s=0.2))
    seen: list[str] = []
    failures = {"open": 1, "error": 1}

    async def deliver(data: bytes, subject: str) -> None:
        message_id = json.loads(data)["message_id"]
        if failures["open"]:
            failures["open"] -= 1
            raise CircuitBreakerOpen(0.1)
        if failures["error"]:
            failures["error"] -= 1
            raise ConnectionError("a player's socket failed")
        seen.append(message_id)

    try:
        await chat.bind(nc)
        await chat.start_consumer(deliver)
        first = chat_message("x", 1)
        await chat.publish(f"chat.say.{ROOM}", first)
        assert await wait_until(lambda: seen == [first["message_id"]], 15)
        # the same message without a Nats-Msg-Id header (a core publish): the LRU drops it
        await nc.publish(f"chat.say.{ROOM}", json.dumps(first).encode())
        second = chat_message("x", 2)
        await chat.publish(f"chat.say.{ROOM}", second)
        assert await wait_until(lambda: len(seen) == 2, 15)
        await asyncio.sleep(0.5)
        assert seen == [first["message_id"], second["message_id"]]
        assert chat.duplicates_dropped == 1
        await chat.stop()
        await chat.delete_consumer()
        with pytest.raises(Exception, match="not found"):
            await nc.jetstream().consumer_info(chat.spec.name, chat.durable)
    finally:
        await chat.stop()
        await nc.close()
