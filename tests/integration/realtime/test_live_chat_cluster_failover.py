"""Chat keeps flowing while a real 3-node JetStream cluster replaces a SIGKILLed stream leader.

Two game servers (ReliableChat, stream and consumers with three replicas), each linked to a node
that does not lead the stream; the leader is killed while one of them says a line every 0.25 s.
JetStream refuses publishes until Raft elects a new leader (4-9 s); the live path on core NATS
must carry the lines meanwhile: the first line said after the kill reaches the other server
within the 5 s failover spec, every line it received came once, and the lines its sender was
told were sent arrived in the order they were said.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.services.nats_cluster import NatsCluster
from harness.services.toxiproxy import ProxyInfo
from mythos.realtime.dead_letter_queue import DeadLetterQueue
from mythos.realtime.jetstream import JetStreamChat, StreamSpec
from mythos.realtime.nats_link import LinkSettings, NATSLink
from mythos.realtime.reliable_chat import ReliableChat, ReliableChatParts
from mythos.realtime.retry import RetryConfig

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

FAILOVER_SPEC_S = 5.0
SAY_FOR_S = 10.0
SAY_EVERY_S = 0.25
STREAM = StreamSpec(replicas=3, publish_timeout_s=1.0, fetch_timeout_s=0.25)


def direct(name: str, upstream: str) -> ProxyInfo:
    return ProxyInfo(name, upstream, upstream, True)


def parts(urls: list[str], name: str) -> ReliableChatParts:
    return ReliableChatParts(
        link=LinkSettings(
            url=",".join(urls),
            name=name,
            connect_timeout=1.0,
            reconnect_time_wait=0.2,
            max_reconnect_attempts=-1,
            ping_interval=1.0,
            max_outstanding_pings=2,
            watchdog_seconds=5.0,
            backoff_base=0.1,
            backoff_max=0.5,
            dont_randomize=True,
        ),
        publish_retry=RetryConfig(max_attempts=3, base_delay=0.05, max_delay=0.5),
        consume_retry=RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.1),
        breaker_timeout_s=1.0,
        publish_deadline_s=3.0,
        stream=STREAM,
        live_chat=True,
    )


def line(n: int) -> dict[str, Any]:
    return {
        "message_id": f"say-{n}-{uuid.uuid4().hex[:6]}",
        "sender_id": "7",
        "sender_name": "ann",
        "channel": "say",
        "content": f"line {n}",
        "timestamp": "t",
        "room_id": "r1",
    }


async def until(predicate: Any, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())


async def test_chat_flows_within_the_spec_while_the_stream_leader_is_replaced(tmp_path: Path) -> None:
    with NatsCluster(tmp_path, link=direct) as cluster:
        urls = {node.name: node.url for node in cluster.nodes}
        setup = NATSLink(LinkSettings(url=",".join(urls.values()), name="setup", dont_randomize=True))
        await setup.start()
        assert await setup.wait_connected(10) and setup.nc is not None
        await JetStreamChat("setup", STREAM).bind(setup.nc)  # creates the R3 stream
        await setup.stop()
        leader = await asyncio.to_thread(cluster.stream_leader, STREAM.name)
        assert leader is not None
        others = [name for name in urls if name != leader]

        received: dict[str, list[tuple[str, float]]] = {"a": [], "b": []}
        chats: dict[str, ReliableChat] = {}
        for name, home in zip(("a", "b"), others, strict=True):
            order = [urls[home]] + [urls[n] for n in urls if n != home]

            async def fan_out(body: dict[str, Any], into: str = name) -> None:
                received[into].append((body["message_id"], time.monotonic()))

            chats[name] = ReliableChat(name, parts(order, name), DeadLetterQueue(tmp_path / f"dlq-{name}"), fan_out)
        try:
            for chat in chats.values():
                await chat.start()
                assert await chat.link.wait_connected(10)
            warm = line(0)
            assert (await chats["a"].publish("chat.say.r1", warm)).sent
            assert await until(lambda: any(m == warm["message_id"] for m, _ in received["b"]), 10)

            await asyncio.to_thread(cluster.node(leader).kill)
            killed_at = time.monotonic()
            said: list[tuple[dict[str, Any], float, bool]] = []
            n = 1
            while time.monotonic() - killed_at < SAY_FOR_S:
                body = line(n)
                at = time.monotonic()
                result = await chats["a"].publish("chat.say.r1", body)
                said.append((body, at, result.sent))
                n += 1
                await asyncio.sleep(SAY_EVERY_S)

            first_id = said[0][0]["message_id"]
            assert await until(lambda: any(m == first_id for m, _ in received["b"]), 30)
            got_at = {m: t for m, t in reversed(received["b"])}
            failover_s = min(got_at[b["message_id"]] for b, _, _ in said if b["message_id"] in got_at) - killed_at
            print(
                f"cluster failover {failover_s:.2f} s; {len(said)} lines, "
                f"{sum(ok for _, _, ok in said)} sent, live {chats['b'].live and chats['b'].live.delivered}"
            )
            assert failover_s <= FAILOVER_SPEC_S

            # The outbox sends the queued lines to the stream once it has a leader again; B must
            # drop those durable copies of lines it already had live.
            deadline = time.monotonic() + 40
            while await chats["a"].dlq.get_pending_count() and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert await chats["a"].dlq.get_pending_count() == 0
            sent_ids = [b["message_id"] for b, _, ok in said if ok]
            await until(
                lambda: chats["b"].jetstream.delivered + chats["b"].jetstream.duplicates_dropped >= len(said), 20
            )
            counts = Counter(m for m, _ in received["b"])
            assert max(counts.values()) == 1, f"duplicates: {[m for m, c in counts.items() if c > 1]}"
            assert all(b["message_id"] in counts for b, _, _ in said), "a line never reached B"
            assert all(m in counts for m in sent_ids), "a line its sender was told was sent never arrived"
            position = {m: i for i, (m, _) in enumerate(received["b"])}
            assert [position[m] for m in sent_ids] == sorted(position[m] for m in sent_ids)
        finally:
            for chat in chats.values():
                await chat.stop()
