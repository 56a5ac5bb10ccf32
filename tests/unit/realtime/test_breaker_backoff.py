"""The breaker's open timeout grows on repeated failure and resets on close, and a link that is
back lets the breaker probe at once (issue 15: recovery under a second)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mythos.realtime.circuit_breaker import CircuitBreaker, CircuitBreakerOpen, CircuitState
from tests.unit.realtime.test_circuit_breaker import Clock, boom, ok, trip


def backoff(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=2, timeout=timedelta(seconds=5), success_threshold=1,
                          first_timeout=timedelta(seconds=0.5), clock=clock)


async def fail_probe(breaker: CircuitBreaker) -> None:
    with pytest.raises(ConnectionError):
        await breaker.call(boom)


async def test_open_timeout_starts_short_doubles_per_failed_probe_and_is_capped() -> None:
    clock = Clock()
    breaker = backoff(clock)
    await trip(breaker, 2)
    waits = []
    for _ in range(6):
        assert breaker.state is CircuitState.OPEN
        waits.append(breaker.retry_after())
        clock.now += waits[-1] - 0.01
        assert breaker.state is CircuitState.OPEN, "probed before its open timeout"
        clock.now += 0.01
        assert breaker.state is CircuitState.HALF_OPEN
        await fail_probe(breaker)
    print(f"open timeouts after each failed probe: {waits}")
    assert waits == pytest.approx([0.5, 1.0, 2.0, 4.0, 5.0, 5.0])


async def test_a_close_resets_the_open_timeout_to_the_first() -> None:
    clock = Clock()
    breaker = backoff(clock)
    await trip(breaker, 2)
    for _ in range(3):  # 0.5, 1, 2: grown
        clock.now += breaker.retry_after()
        await fail_probe(breaker)
    assert breaker.retry_after() == pytest.approx(4.0)
    clock.now += 4.0
    await breaker.call(ok)
    assert breaker.state is CircuitState.CLOSED
    await trip(breaker, 2)
    assert breaker.retry_after() == pytest.approx(0.5)


def test_without_first_timeout_the_spec_keeps_its_fixed_timeout() -> None:
    breaker = CircuitBreaker(timeout=timedelta(seconds=60))
    assert breaker.first_timeout == breaker.timeout == timedelta(seconds=60)


async def test_probe_now_lets_an_open_breaker_probe_before_its_timeout() -> None:
    clock = Clock()
    breaker = backoff(clock)
    await trip(breaker, 2)
    with pytest.raises(CircuitBreakerOpen):
        await breaker.call(ok)
    assert breaker.probe_now("link reconnected") is True
    assert breaker.state is CircuitState.HALF_OPEN
    assert await breaker.call(ok) == "ok"
    assert breaker.state is CircuitState.CLOSED


def test_probe_now_does_nothing_unless_open() -> None:
    breaker = backoff(Clock())
    assert breaker.probe_now("link reconnected") is False
    assert breaker.state is CircuitState.CLOSED


def test_from_nats_config_starts_short_and_caps_at_the_configured_timeout() -> None:
    class Nats:
        breaker_failure_threshold = 5
        breaker_timeout_seconds = 5.0
        breaker_success_threshold = 2

    breaker = CircuitBreaker.from_nats_config(Nats())
    assert breaker.timeout == timedelta(seconds=5)
    assert breaker.first_timeout < timedelta(seconds=1)


async def test_the_link_coming_back_makes_an_open_breaker_probe_at_once() -> None:
    from mythos.realtime.connection_state_machine import ConnectionState
    from mythos.realtime.nats_link import LinkSettings, NATSLink

    clock = Clock()
    breaker = backoff(clock)
    link = NATSLink(LinkSettings(name="t"))
    link.attach_breaker(breaker)
    link.fsm.fire("start")
    link.fsm.fire("established")
    await trip(breaker, 2)
    assert link.state is ConnectionState.CIRCUIT_OPEN
    link.fsm.fire("lost", "disconnected_cb")
    assert breaker.state is CircuitState.OPEN
    link.fsm.fire("established", "reconnected_cb")
    assert breaker.state is CircuitState.HALF_OPEN, "the breaker waited out its timeout after the link came back"
    await breaker.call(ok)
    assert breaker.state is CircuitState.CLOSED
    assert link.state is ConnectionState.CONNECTED


async def test_the_consumer_fetches_as_soon_as_the_link_is_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Waiting for the link, the fetch loop sleeps a tick; the link coming back ends the sleep."""
    import asyncio
    import time

    from mythos.realtime import jetstream
    from mythos.realtime.jetstream import JetStreamChat

    monkeypatch.setattr(jetstream, "RESUBSCRIBE_WAIT_S", 5.0)
    chat = JetStreamChat("t")
    started = time.monotonic()
    waiting = asyncio.create_task(chat._resubscribe_later())
    await asyncio.sleep(0.05)
    chat.link_back()
    await asyncio.wait_for(waiting, 2.0)
    assert time.monotonic() - started < 2.0
