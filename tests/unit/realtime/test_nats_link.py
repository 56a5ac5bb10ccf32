"""NATSLink edges that a real server cannot force on demand: a connect that never returns
(nats.py #671) and a failing on_connected hook. Everything else is tested against a real
nats-server in tests/integration/realtime."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from mythos.realtime.connection_state_machine import ConnectionState
from mythos.realtime.nats_link import LinkSettings, NATSLink


class FakeConnection:
    def __init__(self) -> None:
        self.is_connected = True
        self.is_closed = False
        self.closed_calls = 0

    async def close(self) -> None:
        self.closed_calls += 1
        self.is_closed = True
        self.is_connected = False


def settings() -> LinkSettings:
    return LinkSettings(connect_timeout=0.05, watchdog_seconds=0.05, backoff_base=0.01, backoff_max=0.02)


async def test_a_connect_that_hangs_is_abandoned_and_retried() -> None:
    calls = 0
    conn = FakeConnection()

    async def connect(*_args: Any, **_kwargs: Any) -> FakeConnection:
        nonlocal calls
        calls += 1
        if calls < 3:
            await asyncio.Event().wait()  # never returns, like a hung transport
        return conn

    link = NATSLink(settings(), connect=connect)  # type: ignore[arg-type]
    await link.start()
    try:
        assert await link.wait_connected(5)
    finally:
        await link.stop()
    assert calls == 3
    events = [t.event for t in link.fsm.history]
    assert events.count("connect_failed") == 2
    assert "TimeoutError" in next(t.cause for t in link.fsm.history if t.event == "connect_failed")
    assert link.state is ConnectionState.DISCONNECTED
    assert conn.closed_calls == 1


async def test_failing_hook_closes_the_connection_and_retries() -> None:
    conns: list[FakeConnection] = []

    async def connect(*_args: Any, **_kwargs: Any) -> FakeConnection:
        conns.append(FakeConnection())
        return conns[-1]

    hook_calls = 0

    async def hook(_nc: Any) -> None:
        nonlocal hook_calls
        hook_calls += 1
        if hook_calls == 1:
            raise RuntimeError("stream not ready")

    link = NATSLink(settings(), connect=connect)  # type: ignore[arg-type]
    link.on_connected(hook)
    await link.start()
    try:
        assert await link.wait_connected(5)
    finally:
        await link.stop()
    assert hook_calls == 2
    assert conns[0].closed_calls == 1  # the first connection was not leaked


def test_settings_from_config() -> None:
    class NatsSettings:
        url = "nats://127.0.0.1:4999"
        connect_timeout = 2.0
        reconnect_time_wait = 0.5
        max_reconnect_attempts = 4
        ping_interval = 2.0
        max_outstanding_pings = 2
        reconnect_watchdog_seconds = 10.0
        max_payload = 1024
        dont_randomize = False

    s = LinkSettings.from_config(NatsSettings(), name="mythos-1")
    assert (s.url, s.ping_interval, s.max_outstanding_pings, s.watchdog_seconds, s.name) == (
        "nats://127.0.0.1:4999",
        2.0,
        2,
        10.0,
        "mythos-1",
    )
    assert all(s.backoff_max / 2 <= s.backoff(n) <= s.backoff_max for n in range(10, 12))


def test_parts_from_the_real_config(tmp_path: Any) -> None:
    from mythos.realtime.reliable_chat import ReliableChatParts
    from tests.factories import make_config

    config = make_config(tmp_path, nats={"enabled": True, "url": "nats://127.0.0.1:4333"})
    parts = ReliableChatParts.from_config(config.nats, name="mythos-a")
    assert parts.link.url == "nats://127.0.0.1:4333"
    assert parts.link.ping_interval == config.nats.ping_interval
    assert parts.link.watchdog_seconds == config.nats.reconnect_watchdog_seconds
    assert parts.publish_retry.base_delay == config.nats.publish_retry_base_delay
    assert parts.breaker_timeout_s == config.nats.breaker_timeout_seconds


class ResurrectingConnection(FakeConnection):
    """Like nats-py when close() loses the race with its own reconnect: the reconnect task swallows
    the first cancel (asyncio.wait_for on 3.11), finishes, and turns the closed client CONNECTED."""

    def __init__(self) -> None:
        super().__init__()
        self.options: dict[str, Any] = {"allow_reconnect": True}
        self._reconnection_task = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        # The cancel is swallowed, as the 3.11 wait_for does when its inner future just completed.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
        await asyncio.sleep(0)
        self.is_closed = False
        self.is_connected = True


async def test_a_client_that_comes_back_after_close_is_closed_again() -> None:
    retired: list[Any] = []
    link = NATSLink(settings())
    link.on_retire(retired.append)
    nc = ResurrectingConnection()
    link._nc = nc  # type: ignore[assignment]
    await link._close_current("watchdog")
    assert retired == [nc]  # users were told before the close
    assert nc.options["allow_reconnect"] is False
    assert nc._reconnection_task.done()
    assert nc.is_closed and not nc.is_connected
    assert nc.closed_calls == 2
    assert link.close_retries == 1
    assert link.nc is None
