"""The login throttle's budgets on a simulated clock, and the bounded hash gate."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mythos.login_throttle import (
    BackoffPolicy,
    HashGate,
    HashLane,
    HashQueueFull,
    LoginThrottle,
    LoginThrottled,
    ThrottleScope,
    guesses_per_hour,
)
from tests.factories import make_config

HOUR = 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _default_throttle(tmp_path: Path, clock: Clock) -> LoginThrottle:
    throttle = LoginThrottle.from_settings(make_config(tmp_path).security)
    throttle.clock = clock
    return throttle


def _attack(throttle: LoginThrottle, clock: Clock, addresses: list[str], account: str = "admin") -> int:
    """Every address guesses wrong the moment it is allowed to, for one hour; guesses evaluated."""
    evaluated = 0
    next_try = dict.fromkeys(addresses, clock.now)
    start = clock.now
    while True:
        address, when = min(next_try.items(), key=lambda item: item[1])
        if when - start >= HOUR:
            return evaluated
        clock.now = when
        try:
            attempt = throttle.begin(account, address)
        except LoginThrottled as refused:
            next_try[address] = clock.now + refused.retry_after
            continue
        attempt.failed()
        evaluated += 1


def test_the_defaults_keep_guesses_per_account_per_hour_within_budget(tmp_path: Path) -> None:
    security = make_config(tmp_path).security
    pair = BackoffPolicy(
        security.login_free_failures, security.login_backoff_base_seconds, security.login_backoff_max_seconds
    )
    # One address: 5 free, then lockouts of 120, 240, 480, then 900 s: 11 in the first hour.
    assert guesses_per_hour(pair) == 11
    assert security.login_account_failures_per_hour == 50
    clock = Clock()
    assert _attack(_default_throttle(tmp_path, clock), clock, ["10.0.0.1"]) == 11
    clock = Clock()
    assert _attack(_default_throttle(tmp_path, clock), clock, [f"10.0.0.{i}" for i in range(3)]) == 33
    # Twenty addresses: the first ten reach the ceiling of 50; each of the other ten gets one guess.
    clock = Clock()
    assert _attack(_default_throttle(tmp_path, clock), clock, [f"10.0.1.{i}" for i in range(20)]) == 60


def test_each_new_address_past_the_ceiling_gets_one_guess(tmp_path: Path) -> None:
    """The documented price of never locking the owner out: ceiling + one per fresh address."""
    clock = Clock()
    throttle = _default_throttle(tmp_path, clock)
    addresses = [f"10.1.{i // 250}.{i % 250}" for i in range(120)]
    assert _attack(throttle, clock, addresses) == 50 + (120 - 10)  # the first 10 addresses reach the ceiling


def test_concurrent_guesses_cannot_outrun_their_own_failures(tmp_path: Path) -> None:
    clock = Clock()
    throttle = _default_throttle(tmp_path, clock)
    admitted = []
    for _ in range(20):
        try:
            admitted.append(throttle.begin("admin", "10.0.0.9"))
        except LoginThrottled as refused:
            assert refused.scope is ThrottleScope.ACCOUNT_ADDRESS and refused.retry_after == 1
    assert len(admitted) == 5
    lockouts = [lockout for attempt in admitted for lockout in attempt.failed()]
    assert [(lk.scope, lk.seconds) for lk in lockouts] == [(ThrottleScope.ACCOUNT_ADDRESS, 120)]
    with pytest.raises(LoginThrottled) as info:
        throttle.begin("ADMIN", "10.0.0.9")  # accounts are case-insensitive
    assert info.value.retry_after == 120


def test_abandoned_guesses_cost_nothing_and_state_is_forgotten(tmp_path: Path) -> None:
    clock = Clock()
    throttle = _default_throttle(tmp_path, clock)
    for _ in range(50):
        throttle.begin("admin", "10.0.0.9").abandon()
    for _ in range(4):
        throttle.begin("admin", "10.0.0.9").failed()
    clock.now += HOUR + 1
    throttle.begin("someone", "10.0.0.8").succeeded()
    assert ("admin", "10.0.0.9") not in throttle._pairs
    assert "10.0.0.9" not in throttle._addresses


def test_state_is_bounded(tmp_path: Path) -> None:
    clock = Clock()
    throttle = _default_throttle(tmp_path, clock)
    throttle.max_entries = 100
    for i in range(1000):
        throttle.begin(f"ghost{i}", f"10.{i // 250}.0.{i % 250}").failed()
    assert max(len(throttle._pairs), len(throttle._addresses), len(throttle._accounts)) <= 100


def test_settings_refuse_a_memory_shorter_than_the_longest_lockout(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="LOGIN_FAILURE_MEMORY_SECONDS"):
        make_config(tmp_path, security={"login_failure_memory_seconds": 600, "login_backoff_max_seconds": 900})


async def test_the_gate_keeps_a_slot_for_trusted_addresses_and_serves_lanes_in_order() -> None:
    gate = HashGate(2, max_waiting=2, max_suspect_waiting=1)
    release = asyncio.Event()
    order: list[str] = []

    async def hold(name: str, lane: HashLane) -> None:
        async with gate.slot(lane):
            order.append(name)
            await release.wait()

    tasks = [asyncio.create_task(hold("s1", HashLane.SUSPECT)), asyncio.create_task(hold("c1", HashLane.CLEAN))]
    await asyncio.sleep(0)
    assert order == ["s1"] and gate.running == 1  # untrusted lanes share one of the two slots
    tasks.append(asyncio.create_task(hold("s2", HashLane.SUSPECT)))
    await asyncio.sleep(0)
    with pytest.raises(HashQueueFull) as full:
        await hold("s3", HashLane.SUSPECT)
    assert full.value.retry_after >= 1
    tasks.append(asyncio.create_task(hold("t1", HashLane.TRUSTED)))
    await asyncio.sleep(0)
    assert order == ["s1", "t1"]  # the trusted address did not wait behind the flood
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["s1", "t1", "c1", "s2"]  # clean before suspect
    assert gate.running == 0


async def test_a_cancelled_waiter_does_not_leak_a_slot() -> None:
    gate = HashGate(1, max_waiting=4)
    release = asyncio.Event()

    async def hold() -> None:
        async with gate.slot(HashLane.CLEAN):
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiters = [asyncio.create_task(hold()) for _ in range(3)]
    await asyncio.sleep(0)
    assert gate.waiting(HashLane.CLEAN) == 3
    for task in waiters:
        task.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    assert gate.waiting(HashLane.CLEAN) == 0
    release.set()
    await holder
    assert gate.running == 0
    async with gate.slot(HashLane.CLEAN):
        assert gate.running == 1


def test_lanes_follow_the_address_record(tmp_path: Path) -> None:
    clock = Clock()
    throttle = _default_throttle(tmp_path, clock)
    assert throttle.lane("10.0.0.1") is HashLane.CLEAN
    throttle.begin("alice", "10.0.0.1").succeeded()
    assert throttle.lane("10.0.0.1") is HashLane.TRUSTED
    throttle.begin("bob", "10.0.0.1").failed()
    assert throttle.lane("10.0.0.1") is HashLane.SUSPECT
    throttle.begin("alice", "10.0.0.1").succeeded()  # a success never forgives the address's failures
    assert throttle.lane("10.0.0.1") is HashLane.SUSPECT
