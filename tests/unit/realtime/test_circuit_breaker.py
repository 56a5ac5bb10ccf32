"""Every breaker transition, with an injected clock: closed -> open -> half_open -> closed / open."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
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


class BreakerModel(RuleBasedStateMachine):
    """The real breaker against a plain reference model, over random calls and clock moves."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = Clock()
        self.breaker = make(self.clock)
        self.state = "closed"
        self.failures = 0
        self.successes = 0
        self.opened_at = 0.0

    def teardown(self) -> None:
        self.loop.close()

    def _expected_now(self) -> str:
        if self.state == "open" and self.clock.now - self.opened_at >= 10:
            self.state, self.successes = "half_open", 0
        return self.state

    def _call(self, func: Any) -> str:
        try:
            self.loop.run_until_complete(self.breaker.call(func))
        except CircuitBreakerOpen:
            return "refused"
        except ConnectionError:
            return "failed"
        return "ok"

    @rule(ok=st.booleans())
    def call(self, ok: bool) -> None:
        expected = self._expected_now()
        outcome = self._call(ok_call if ok else boom)
        note(f"{expected} call ok={ok} -> {outcome}")
        if expected == "open":
            assert outcome == "refused"
            return
        assert outcome == ("ok" if ok else "failed")
        if expected == "closed":
            self.failures = 0 if ok else self.failures + 1
            if self.failures >= 3:
                self.state, self.opened_at = "open", self.clock.now
        elif ok:
            self.successes += 1
            if self.successes >= 2:
                self.state, self.failures = "closed", 0
        else:
            self.state, self.opened_at = "open", self.clock.now

    @rule(seconds=st.floats(min_value=0, max_value=12))
    def advance(self, seconds: float) -> None:
        self.clock.now += seconds

    @invariant()
    def same_state(self) -> None:
        assert self.breaker.state.value == self._expected_now()


async def ok_call() -> str:
    return "ok"


TestBreakerAgainstModel = BreakerModel.TestCase
TestBreakerAgainstModel.settings = settings(max_examples=50, stateful_step_count=30, deadline=None)


# Regressions (issue 12, items 1 and 2): cancellation and stale results.


async def _half_open(clock: Clock) -> CircuitBreaker:
    breaker = make(clock)
    await trip(breaker, 3)
    clock.now += 10
    assert breaker.state is CircuitState.HALF_OPEN
    return breaker


async def test_a_cancelled_probe_releases_the_probe_slot() -> None:
    clock = Clock()
    breaker = await _half_open(clock)
    started = asyncio.Event()

    async def hangs() -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    probe = asyncio.create_task(breaker.call(hangs))
    await started.wait()
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    # Cancellation says nothing about NATS: the breaker stays half-open and admits the next probe.
    assert breaker.state is CircuitState.HALF_OPEN
    assert await breaker.call(ok) == "ok"
    assert await breaker.call(ok) == "ok"
    assert breaker.state is CircuitState.CLOSED


async def test_a_cancelled_call_in_the_hot_path_api_releases_the_probe() -> None:
    clock = Clock()
    breaker = await _half_open(clock)
    admission = breaker.before_call()
    assert admission.probe
    breaker.release(admission)
    assert breaker.before_call().probe


async def test_stale_successes_do_not_close_a_half_open_breaker() -> None:
    clock = Clock()
    breaker = make(clock)
    release = asyncio.Event()

    async def slow_ok() -> str:
        await release.wait()
        return "ok"

    # Two calls admitted while closed, still running when the breaker trips and goes half-open.
    stale = [asyncio.create_task(breaker.call(slow_ok)) for _ in range(2)]
    await asyncio.sleep(0)
    await trip(breaker, 3)
    clock.now += 10
    assert breaker.state is CircuitState.HALF_OPEN
    release.set()
    assert await asyncio.gather(*stale) == ["ok", "ok"]
    assert breaker.state is CircuitState.HALF_OPEN, "only the probe's result may move half-open"


async def test_stale_failure_does_not_reopen_a_half_open_breaker() -> None:
    clock = Clock()
    breaker = make(clock)
    release = asyncio.Event()

    async def slow_boom() -> str:
        await release.wait()
        raise ConnectionError("late")

    stale = asyncio.create_task(breaker.call(slow_boom))
    await asyncio.sleep(0)
    await trip(breaker, 3)
    clock.now += 10
    assert breaker.state is CircuitState.HALF_OPEN
    release.set()
    with pytest.raises(ConnectionError):
        await stale
    assert breaker.state is CircuitState.HALF_OPEN


def test_calls_admitted_while_closed_share_one_admission_per_epoch() -> None:
    """The consume hot path admits every message: one immutable Admission per closed epoch
    (bench/nats_handler: 0.78 -> 0.81 of raw nats-py per CPU second), and a new epoch gets its own,
    so a stale success still cannot count in a later epoch."""
    breaker = CircuitBreaker(failure_threshold=1, timeout=timedelta(seconds=60), success_threshold=1)
    first, second = breaker.before_call(), breaker.before_call()
    assert first is second and not first.probe
    breaker.after_failure(RuntimeError("down"), first)
    assert breaker.state is CircuitState.OPEN
    breaker.probe_now("test")
    breaker.after_success(breaker.before_call())
    assert breaker.state is CircuitState.CLOSED
    later = breaker.before_call()
    assert later is not first and later.epoch != first.epoch
    breaker.after_success(second)  # admitted before the outage: counts for nothing now
    assert breaker.state is CircuitState.CLOSED and breaker.before_call() is later
