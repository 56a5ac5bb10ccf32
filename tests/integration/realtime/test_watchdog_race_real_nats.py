"""Regression (chaos finding): the reconnect watchdog firing just as a partition heals.

With the watchdog as long as the partition, nats-py's own reconnect of the old client could
complete while the link was closing that client. The close did not stick (the reconnect turned the
client CONNECTED again), the old client lived on and reconnected by itself, and the JetStream
fetch loop, waiting on that client, got a bare CancelledError from nats-py and ended. The link
said connected and the consumer was bound, yet no chat or DLQ replay arrived any more.

A TCP forwarder in the test sits between the client and a real nats-server. Each cycle cuts the
link and heals it at the watchdog's deadline, phase-locked with nats-py's reconnect attempts
(watchdog 1 s, reconnect wait 0.5 s, as in the chaos topology), or exactly when the watchdog
retires the old client. After every cycle: chat published afterwards and a replayed DLQ entry
arrive, the fetch loop runs, and every retired client is closed and stays closed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from mythos.realtime.connection_state_machine import ConnectionState
from mythos.realtime.dead_letter_queue import DeadLetterQueue
from mythos.realtime.jetstream import StreamSpec
from mythos.realtime.nats_link import LinkSettings
from mythos.realtime.reliable_chat import ReliableChat, ReliableChatParts
from mythos.realtime.retry import RetryConfig

from .conftest import NatsServer
from .tcp_forwarder import TcpForwarder

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

WATCHDOG_S = 1.0
RECONNECT_WAIT_S = 0.5
DELIVERY_DEADLINE_S = 10.0
SETTLE_S = 1.5  # longer than a resurrected client needs to reconnect (one reconnect wait)
SUBJECT = "chat.say.arkham_001"
# Heal offsets after the loss, around the watchdog's deadline; None heals when the old client is retired.
HEAL_AT: tuple[float | None, ...] = (0.9, 0.95, 1.0, None, 0.98, 1.02, 0.92, None, 1.0, 0.96, 1.04, None)


def parts(url: str) -> ReliableChatParts:
    return ReliableChatParts(
        link=LinkSettings(
            url=url,
            name="race",
            connect_timeout=1.0,
            reconnect_time_wait=RECONNECT_WAIT_S,
            max_reconnect_attempts=-1,
            ping_interval=1.0,
            max_outstanding_pings=2,
            watchdog_seconds=WATCHDOG_S,
            backoff_base=0.1,
            backoff_max=0.5,
        ),
        publish_retry=RetryConfig(max_attempts=3, base_delay=0.05, max_delay=0.2),
        consume_retry=RetryConfig(max_attempts=2, base_delay=0.01, max_delay=0.05),
        stream=StreamSpec(publish_timeout_s=0.5, ack_wait_s=2.0, fetch_timeout_s=0.5),
    )


def chat_message(n: int) -> dict[str, Any]:
    return {
        "message_id": f"race-{n}-{uuid.uuid4().hex[:8]}",
        "sender_id": "alice",
        "sender_name": "alice",
        "channel": "say",
        "content": f"message {n}",
        "timestamp": time.time(),
        "room_id": "arkham_001",
    }


async def wait_until(predicate: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


class Rig:
    def __init__(self, chat: ReliableChat, forwarder: TcpForwarder) -> None:
        self.chat = chat
        self.forwarder = forwarder
        self.received: list[str] = []
        self.retired: list[NATS] = []


@pytest.fixture
async def rig(killable_nats: NatsServer, tmp_path: Path) -> AsyncIterator[Rig]:
    forwarder = TcpForwarder(killable_nats.port)
    await forwarder.start()
    received: list[str] = []

    async def fan_out(message: dict[str, Any]) -> None:
        received.append(message["message_id"])

    chat = ReliableChat("race", parts(forwarder.url), DeadLetterQueue(tmp_path / "dlq"), fan_out)
    made = Rig(chat, forwarder)
    made.received = received
    chat.link.on_retire(made.retired.append)
    chat.link.on_retire(lambda _nc: forwarder.release())  # a held heal lands on the retirement
    await chat.start()
    try:
        assert await chat.link.wait_connected(10), "did not connect"
        yield made
    finally:
        await chat.stop()
        await forwarder.close()


async def cut_and_heal(rig: Rig, heal_at: float | None) -> None:
    link = rig.chat.link
    await rig.forwarder.partition()
    assert await wait_until(lambda: link.state is ConnectionState.RECONNECTING, 10), "loss not noticed"
    lost_at = time.monotonic()
    if heal_at is None:
        # Listening again before the deadline, but the old client's reconnect is held in the
        # forwarder until the watchdog retires that client: the heal lands on the retirement.
        fired = link.watchdog_fired
        await rig.forwarder.heal(hold=True)
        assert await wait_until(lambda: link.watchdog_fired > fired, 10), "watchdog never fired"
    else:
        await asyncio.sleep(max(0.0, lost_at + heal_at - time.monotonic()))
        await rig.forwarder.heal()


async def check_delivery(rig: Rig, cycle: int) -> None:
    chat = rig.chat
    assert await chat.link.wait_connected(10), f"cycle {cycle}: link did not come back"
    queued = chat_message(10_000 + cycle)
    await chat.guard.dead_letter_now(SUBJECT, queued, "queued during the fault")
    sent = []
    for n in range(3):
        message = chat_message(cycle * 10 + n)
        result = await chat.publish(SUBJECT, message)
        if result.sent:
            sent.append(message["message_id"])
    assert sent, f"cycle {cycle}: nothing could be published after the heal"
    replayed, left = await chat.replay_dead_letters()
    assert left == 0 and replayed >= 1, f"cycle {cycle}: replay left {left}"
    wanted = {*sent, queued["message_id"]}
    arrived = await wait_until(lambda: wanted <= set(rig.received), DELIVERY_DEADLINE_S)
    assert arrived, (
        f"cycle {cycle}: published chat or DLQ replay never delivered "
        f"(missing {sorted(wanted - set(rig.received))}, consumer running {chat.jetstream.consumer_running})"
    )


@pytest.mark.slow  # a long real outage: make verify only; make test keeps the shorter ones
async def test_watchdog_firing_as_the_partition_heals_loses_nothing(rig: Rig) -> None:
    chat = rig.chat
    first = chat_message(-1)
    assert (await chat.publish(SUBJECT, first)).sent
    assert await wait_until(lambda: first["message_id"] in rig.received, DELIVERY_DEADLINE_S)

    for cycle, heal_at in enumerate(HEAL_AT):
        await cut_and_heal(rig, heal_at)
        await check_delivery(rig, cycle)
        assert chat.jetstream.consumer_running, f"cycle {cycle}: the fetch loop ended"
        await asyncio.sleep(SETTLE_S)
        zombies = [nc for nc in rig.retired if not nc.is_closed]
        assert zombies == [], f"cycle {cycle}: {len(zombies)} retired client(s) came back to life"
        assert rig.forwarder.open_clients == 1, f"cycle {cycle}: {rig.forwarder.open_clients} client connections"

    duplicates = len(rig.received) - len(set(rig.received))
    print(
        f"\nwatchdog race: cycles {len(HEAL_AT)}, watchdog fired {chat.link.watchdog_fired}, "
        f"close retried {chat.link.close_retries}, fetches interrupted {chat.jetstream.fetch_interruptions}, "
        f"stale fetched dropped {chat.jetstream.stale_fetches_dropped}, duplicates to players {duplicates}"
    )
    assert chat.link.watchdog_fired >= len([h for h in HEAL_AT if h is None])
    assert duplicates == 0
