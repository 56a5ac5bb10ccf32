"""A NATS_URL list against real nats-servers: the order is kept when asked, the next server takes
over when the first dies, and the chat stream is replicated on a real 3-node JetStream cluster."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from harness.services.nats import NatsServer
from harness.services.nats_cluster import NatsCluster
from harness.services.toxiproxy import ProxyInfo
from mythos.realtime.jetstream import JetStreamChat, StreamSpec
from mythos.realtime.nats_link import LinkSettings, NATSLink

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

FRESH_LINKS = 8
"""Shuffled, two servers would put all eight links on the first one with probability 1/256."""


def settings(servers: list[str], *, dont_randomize: bool) -> LinkSettings:
    return LinkSettings(url=",".join(servers), name="cluster-link-test", connect_timeout=1.0,
                        reconnect_time_wait=0.2, max_reconnect_attempts=-1, ping_interval=1.0,
                        max_outstanding_pings=2, watchdog_seconds=5.0, backoff_base=0.1, backoff_max=0.5,
                        dont_randomize=dont_randomize)


@contextlib.asynccontextmanager
async def running(link: NATSLink) -> AsyncIterator[NATSLink]:
    await link.start()
    try:
        assert await link.wait_connected(10), f"link never connected: {link.state}"
        yield link
    finally:
        await link.stop()


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[list[NatsServer]]:
    with NatsServer(tmp_path, name="first", jetstream=False) as first, \
            NatsServer(tmp_path, name="second", jetstream=False) as second:
        yield [first, second]


def connected_port(link: NATSLink) -> int | None:
    nc = link.nc
    return None if nc is None or nc.connected_url is None else nc.connected_url.port


async def test_the_first_server_is_dialled_first_every_time_when_the_order_is_kept(
        two_servers: list[NatsServer]) -> None:
    first, second = two_servers
    ports = []
    for _ in range(FRESH_LINKS):
        async with running(NATSLink(settings([first.url, second.url], dont_randomize=True))) as link:
            ports.append(connected_port(link))
    assert ports == [first.port] * FRESH_LINKS


async def test_the_next_server_of_the_list_takes_over_when_the_first_dies(two_servers: list[NatsServer]) -> None:
    first, second = two_servers
    async with running(NATSLink(settings([first.url, second.url], dont_randomize=True))) as link:
        assert connected_port(link) == first.port
        first.kill()
        for _ in range(200):
            if link.is_connected and connected_port(link) == second.port:
                break
            await asyncio.sleep(0.05)
        assert connected_port(link) == second.port, f"still on {connected_port(link)} ({link.state})"


def direct(name: str, upstream: str) -> ProxyInfo:
    """Routes without Toxiproxy: the route dials the peer's cluster port itself."""
    return ProxyInfo(name, upstream, upstream, True)


async def test_the_chat_stream_gets_the_configured_replicas_on_a_real_cluster(tmp_path: Path) -> None:
    with NatsCluster(tmp_path, link=direct) as cluster:
        urls = [node.url for node in cluster.nodes]
        async with running(NATSLink(settings(urls, dont_randomize=True))) as link:
            assert link.nc is not None
            chat = JetStreamChat("replicas-test", StreamSpec(replicas=3))
            await chat.bind(link.nc)
            info = await link.nc.jetstream().stream_info(chat.spec.name)
            assert info.config.num_replicas == 3
            assert info.cluster is not None and info.cluster.leader in {n.name for n in cluster.nodes}
            assert len(info.cluster.replicas or []) == 2
            assert cluster.stream_leader(chat.spec.name) == info.cluster.leader
