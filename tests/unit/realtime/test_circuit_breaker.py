"""Every breaker transition, with an injected clock: closed -> open -> half_open -> closed / open."""

from __future__ import annotations

from datetime import timedelta

import pytest
from statemachine.exceptions import TransitionNotAllowed

from mythos.realtime.circuit_breaker import BreakerFSM, CircuitBreaker, CircuitBreakerOpen, CircuitState
from mythos.realtime.retry import is_permanent


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def ok() -> str:
    return "ok"


async def boom() -> str:
    raise ConnectionError("down")


async def bad_input() -> str:
    raise ValueError("bad schema")


def make(clock: Clock, **kwargs: object) -> CircuitBreaker:
    params: dict[str, object] = {
        "failure_threshold": 3,
        "timeout": timedelta(seconds=10),
        "success_threshold": 2,
    }
    params.update(kwargs)
    return CircuitBreaker(clock=clock, **params)  # type: ignore[arg-type]


async def trip(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(ConnectionError):
            await breaker.call(boom)


def test_state_values_and_defaults() -> None:
    assert [s.value for s in CircuitState] == ["closed", "open", "half_open"]
    breaker = CircuitBreaker()
    assert breaker.state is CircuitState.CLOSED
    assert (breaker.failure_threshold, breaker.timeout, breaker.success_threshold) == (
        5,
        timedelta(seconds=60),
        2,
    )


async def test_closed_stays_closed_below_threshold_and_success_resets_count() -> None:
    breaker = make(Clock())
    await trip(breaker, 2)
    assert breaker.state is CircuitState.CLOSED
    assert await breaker.call(ok) == "ok"
    assert breaker.failure_count == 0
    await trip(breaker, 2)
    assert breaker.state is CircuitState.CLOSED


async def test_closed_to_open_at_threshold_then_calls_are_refused_with_retry_after() -> None:
    clock = Clock()
    breaker = make(clock)
    await trip(breaker, 3)
    assert breaker.state is CircuitState.OPEN
    clock.now += 4
    called = False

    async def spy() -> None:
        nonlocal called
        called = True

    with pytest.raises(CircuitBreakerOpen) as info:
        await breaker.call(spy)
    assert called is False
    assert info.value.retry_after == pytest.approx(6.0)


async def test_open_to_half_open_after_timeout() -> None:
    clock = Clock()
    breaker = make(clock)
    await trip(breaker, 3)
    clock.now += 9.99
    assert breaker.state is CircuitState.OPEN
    clock.now += 0.01
    assert breaker.state is CircuitState.HALF_OPEN


async def test_half_open_to_closed_after_success_threshold() -> None:
    clock = Clock()
    seen: list[CircuitState] = []
    breaker = make(clock)
    breaker.add_listener(seen.append)
    await trip(breaker, 3)
    clock.now += 10
    assert await breaker.call(ok) == "ok"
    assert breaker.state is CircuitState.HALF_OPEN  # one success is not enough
    assert await breaker.call(ok) == "ok"
    assert breaker.state is CircuitState.CLOSED
    assert seen == [CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.CLOSED]


async def test_half_open_to_open_on_probe_failure_restarts_timeout() -> None:
    clock = Clock()
    breaker = make(clock)
    await trip(breaker, 3)
    clock.now += 10
    assert breaker.state is CircuitState.HALF_OPEN
    await trip(breaker, 1)
    assert breaker.state is CircuitState.OPEN
    assert breaker.retry_after() == pytest.approx(10.0)


async def test_only_one_probe_at_a_time_in_half_open() -> None:
    import asyncio

    clock = Clock()
    breaker = make(clock)
    await trip(breaker, 3)
    clock.now += 10
    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "ok"

    probe = asyncio.create_task(breaker.call(slow))
    await asyncio.sleep(0)
    with pytest.raises(CircuitBreakerOpen):
        await breaker.call(ok)
    release.set()
    assert await probe == "ok"


async def test_excluded_errors_do_not_count() -> None:
    breaker = make(Clock(), excluded=is_permanent)
    for _ in range(5):
        with pytest.raises(ValueError):
            await breaker.call(bad_input)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.failure_count == 0


def test_fsm_refuses_illegal_transitions() -> None:
    fsm = BreakerFSM()
    for event in ("probe", "reset"):
        with pytest.raises(TransitionNotAllowed):
            fsm.send(event)
    fsm.send("trip")
    with pytest.raises(TransitionNotAllowed):
        fsm.send("reset")


def test_from_nats_config() -> None:
    class NatsSettings:
        breaker_failure_threshold = 4
        breaker_timeout_seconds = 5.0
        breaker_success_threshold = 1

    breaker = CircuitBreaker.from_nats_config(NatsSettings())
    assert (breaker.failure_threshold, breaker.timeout, breaker.success_threshold) == (
        4,
        timedelta(seconds=5),
        1,
    )
