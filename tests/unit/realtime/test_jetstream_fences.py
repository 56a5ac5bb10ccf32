"""JetStreamChat's fetch loop against edges a real server produces only by a narrow race:
nats-py raising a bare CancelledError out of a fetch while it closes a resurrected client, and a
fetch that returns after its connection was retired. The race itself is exercised against a real
nats-server in tests/integration/realtime/test_watchdog_race_real_nats.py."""

from __future__ import annotations

import asyncio
from typing import Any

from mythos.realtime.jetstream import JetStreamChat, StreamSpec


class FakeMsg:
    def __init__(self, message_id: str) -> None:
        self.headers = {"Nats-Msg-Id": message_id}
        self.data = b"{}"
        self.subject = "chat.say.r1"
        self.acked = 0

    async def ack(self) -> None:
        self.acked += 1

    async def nak(self, delay: float | None = None) -> None:
        return None


class FakeSub:
    """Each fetch takes the next scripted step: an exception to raise, messages, or an event to await."""

    def __init__(self, steps: list[Any]) -> None:
        self.steps = steps
        self.fetches = 0

    async def fetch(self, batch: int, timeout: float) -> list[FakeMsg]:
        self.fetches += 1
        if not self.steps:
            await asyncio.sleep(0.01)
            raise TimeoutError
        step = self.steps.pop(0)
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, asyncio.Event):
            await step.wait()
            return self.steps.pop(0)
        return step

    async def unsubscribe(self) -> None:
        return None


class FakeJS:
    def __init__(self, sub: FakeSub) -> None:
        self.sub = sub

    async def stream_info(self, _name: str) -> None:
        return None

    async def update_stream(self, _config: Any) -> None:
        return None

    async def pull_subscribe(self, *_args: Any, **_kwargs: Any) -> FakeSub:
        return self.sub


class FakeNC:
    def __init__(self, sub: FakeSub) -> None:
        self.is_connected = True
        self.js = FakeJS(sub)

    def jetstream(self, timeout: float) -> FakeJS:
        return self.js


async def started(sub: FakeSub) -> tuple[JetStreamChat, FakeNC, list[bytes]]:
    delivered: list[bytes] = []

    async def deliver(data: bytes, _subject: str) -> None:
        delivered.append(data)

    chat = JetStreamChat("unit", StreamSpec(fetch_timeout_s=0.05))
    nc = FakeNC(sub)
    await chat.start_consumer(deliver)
    await chat.bind(nc)  # type: ignore[arg-type]
    return chat, nc, delivered


async def eventually(predicate: Any, within: float = 5.0) -> bool:
    for _ in range(int(within / 0.01)):
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return bool(predicate())


async def test_a_cancelled_error_from_inside_a_fetch_does_not_end_the_loop() -> None:
    msg = FakeMsg("after-the-race")
    sub = FakeSub([asyncio.CancelledError(), [msg]])
    chat, _nc, delivered = await started(sub)
    try:
        assert await eventually(lambda: msg.acked == 1)
        assert chat.consumer_running
        assert chat.fetch_interruptions == 1
        assert delivered == [b"{}"]
    finally:
        await chat.stop()
    assert not chat.consumer_running  # stop() still ends it


async def test_a_fetch_that_returns_after_its_connection_was_retired_is_dropped_unacked() -> None:
    released = asyncio.Event()
    stale = FakeMsg("stale")
    old_sub = FakeSub([released, [stale]])
    chat, old_nc, delivered = await started(old_sub)
    try:
        assert await eventually(lambda: old_sub.fetches == 1)
        chat.unbind(old_nc)  # type: ignore[arg-type]
        fresh = FakeMsg("fresh")
        await chat.bind(FakeNC(FakeSub([[fresh]])))  # type: ignore[arg-type]
        released.set()
        assert await eventually(lambda: fresh.acked == 1)
        assert stale.acked == 0  # left for the server to redeliver to the live binding
        assert chat.stale_fetches_dropped == 1
        assert delivered == [b"{}"]
    finally:
        await chat.stop()


async def test_unbind_ignores_a_connection_that_is_not_bound() -> None:
    chat, nc, _delivered = await started(FakeSub([]))
    try:
        chat.unbind(FakeNC(FakeSub([])))  # type: ignore[arg-type]
        assert chat._nc is nc
        chat.unbind(nc)  # type: ignore[arg-type]
        assert chat._nc is None
    finally:
        await chat.stop()
