"""NATSLink against a real nats-server: callbacks drive the FSM, the link returns after any
number of restarts, the watchdog bounds a reconnect, and config'd pings catch a blackholed link."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from mythos.observability.metrics import MetricsCollector
from mythos.realtime.connection_state_machine import ConnectionState, metrics_observer
from mythos.realtime.nats_link import LinkSettings, NATSLink

from .conftest import NatsServer, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def settings(url: str, **overrides: object) -> LinkSettings:
    values: dict[str, object] = {
        "url": url,
        "name": "link-test",
        "connect_timeout": 1.0,
        "reconnect_time_wait": 0.2,
        "max_reconnect_attempts": 3,
        "ping_interval": 1.0,
        "max_outstanding_pings": 2,
        "watchdog_seconds": 5.0,
        "backoff_base": 0.1,
        "backoff_max": 1.0,
    }
    values.update(overrides)
    return LinkSettings(**values)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running(link: NATSLink) -> AsyncIterator[NATSLink]:
    await link.start()
    try:
        yield link
    finally:
        await link.stop()


async def wait_state(link: NATSLink, state: ConnectionState, within: float) -> float:
    """Seconds until the link is in `state` (and, for connected, really connected)."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if link.state is state and (state is not ConnectionState.CONNECTED or link.is_connected):
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    raise AssertionError(f"link stayed {link.state} instead of {state} for {within}s")


async def test_comes_back_after_every_restart(killable_nats: NatsServer) -> None:
    metrics = MetricsCollector()
    link = NATSLink(settings(killable_nats.url))
    link.fsm.add_observer(metrics_observer(metrics))
    recoveries: list[float] = []
    async with running(link):
        await wait_state(link, ConnectionState.CONNECTED, 10)
        for down_for in (0.2, 0.5, 3.0, 0.2):  # 3 s outlasts nats-py's 3 attempts x 0.2 s
            killable_nats.kill9()
            await wait_state(link, ConnectionState.RECONNECTING, 10)
            await asyncio.sleep(down_for)
            killable_nats.start()
            recoveries.append(await wait_state(link, ConnectionState.CONNECTED, 15))
            assert link.nc is not None
            await link.nc.flush(timeout=2)  # the connection really works
    print(f"\nlink recovery after restart (s): {[round(r, 3) for r in recoveries]}")
    assert len(recoveries) == 4 and max(recoveries) < 10
    assert metrics.get_metrics()["nats"]["reconnects"] == 4
    assert link.fresh_connects >= 2  # at least the long outage went through a fresh connection
    events = [t.event for t in link.fsm.history]
    assert events[:2] == ["start", "established"]
    assert events.count("lost") >= 4
    assert events[-1] == "closed"
    assert all(t.cause for t in link.fsm.history)


async def test_watchdog_bounds_a_reconnect_that_does_not_finish(killable_nats: NatsServer) -> None:
    # nats-py would retry forever here (-1); the watchdog cuts it after 1 s and starts afresh.
    link = NATSLink(settings(killable_nats.url, max_reconnect_attempts=-1, watchdog_seconds=1.0))
    async with running(link):
        await wait_state(link, ConnectionState.CONNECTED, 10)
        killable_nats.kill9()
        await asyncio.sleep(3.0)
        assert link.watchdog_fired >= 1
        killable_nats.start()
        recovery = await wait_state(link, ConnectionState.CONNECTED, 15)
    print(f"\nwatchdog fired {link.watchdog_fired}x, recovery {recovery:.3f}s")
    assert recovery < 10


async def test_first_connect_retries_until_the_server_appears(killable_nats: NatsServer) -> None:
    killable_nats.kill9()
    link = NATSLink(settings(killable_nats.url, max_reconnect_attempts=1))
    async with running(link):
        await asyncio.sleep(1.5)
        assert link.state in (ConnectionState.CONNECTING, ConnectionState.RECONNECTING)
        assert any(t.event == "connect_failed" for t in link.fsm.history)
        killable_nats.start()
        await wait_state(link, ConnectionState.CONNECTED, 15)


class Blackhole:
    """A loopback TCP proxy that can silently stop forwarding while keeping sockets open."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.dropping = False
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                if not self.dropping:
                    writer.write(data)
                    await writer.drain()
        writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.dropping:
            return  # accept and say nothing: a dead transport
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def stop(self) -> None:
        for w in self._writers:
            w.close()
        if self._server is not None:
            self._server.close()


async def test_pings_detect_a_blackholed_link_within_seconds(killable_nats: NatsServer) -> None:
    proxy = Blackhole(killable_nats.port)
    await proxy.start()
    link = NATSLink(
        settings(f"nats://127.0.0.1:{proxy.port}", ping_interval=0.5, max_outstanding_pings=2, watchdog_seconds=2.0)
    )
    try:
        async with running(link):
            await wait_state(link, ConnectionState.CONNECTED, 10)
            proxy.dropping = True
            detected = await wait_state(link, ConnectionState.RECONNECTING, 10)
            await asyncio.sleep(0.5)
            proxy.dropping = False
            recovered = await wait_state(link, ConnectionState.CONNECTED, 15)
    finally:
        await proxy.stop()
    print(f"\nblackhole detected in {detected:.3f}s, recovered {recovered:.3f}s after heal")
    # ping_interval 0.5 s x 2 outstanding: noticed in about 1.5 s, not nats-py's default ~6 minutes
    assert detected < 4.0
