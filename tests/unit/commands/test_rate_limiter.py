"""CommandRateLimiter: sliding window semantics, whole-batch acquisition, exact waits, eviction."""

from __future__ import annotations

import math

import pytest

from mythos.commands.rate_limiter import CommandRateLimiter


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_allows_up_to_the_limit_then_refuses(clock: FakeClock) -> None:
    limiter = CommandRateLimiter(3, 1.0, clock=clock)
    assert [limiter.is_allowed("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.is_allowed("b"), "players are independent"


def test_window_slides_per_command(clock: FakeClock) -> None:
    limiter = CommandRateLimiter(2, 1.0, clock=clock)
    assert limiter.is_allowed("a")
    clock.now += 0.5
    assert limiter.is_allowed("a")
    assert not limiter.is_allowed("a")
    assert limiter.get_wait_time("a") == pytest.approx(0.5)
    clock.now += 0.5  # the first command leaves the window exactly now
    assert limiter.is_allowed("a")
    assert not limiter.is_allowed("a")


def test_waiting_exactly_the_reported_time_succeeds(clock: FakeClock) -> None:
    limiter = CommandRateLimiter(1, 0.3, clock=clock)
    clock.now = 0.1
    assert limiter.is_allowed("a")
    wait = limiter.get_wait_time("a")
    assert wait > 0
    clock.now += wait
    assert limiter.get_wait_time("a") == 0.0
    assert limiter.is_allowed("a")


def test_refused_commands_are_not_recorded(clock: FakeClock) -> None:
    limiter = CommandRateLimiter(1, 1.0, clock=clock)
    assert limiter.is_allowed("a")
    for _ in range(50):
        assert not limiter.is_allowed("a")
    clock.now += 1.0
    assert limiter.is_allowed("a")


def test_try_acquire_is_all_or_nothing(clock: FakeClock) -> None:
    limiter = CommandRateLimiter(5, 1.0, clock=clock)
    assert limiter.try_acquire("a", 3)
    assert limiter.remaining("a") == 2
    assert not limiter.try_acquire("a", 3), "3 more would exceed 5"
    assert limiter.remaining("a") == 2, "a refused batch records nothing"
    assert limiter.try_acquire("a", 2)
    assert limiter.remaining("a") == 0
    assert limiter.get_wait_time("a", 3) == pytest.approx(1.0)


def test_batches_larger_than_the_limit_never_run(clock: FakeClock) -> None:
    limiter = CommandRateLimiter(3, 1.0, clock=clock)
    assert not limiter.try_acquire("a", 4)
    assert limiter.get_wait_time("a", 4) == math.inf
    assert limiter.try_acquire("a", 0)
    assert limiter.get_wait_time("a", 0) == 0.0


def test_unknown_player_has_full_budget(clock: FakeClock) -> None:
    limiter = CommandRateLimiter(4, 1.0, clock=clock)
    assert limiter.get_wait_time("nobody") == 0.0
    assert limiter.remaining("nobody") == 4
    assert "nobody" not in limiter


def test_arrivals_evict_idle_players_and_reuse_their_slots(clock: FakeClock) -> None:
    limiter = CommandRateLimiter(2, 1.0, clock=clock)
    for i in range(100):
        assert limiter.is_allowed(f"p{i}")
    assert len(limiter) == 100
    ring_size = len(limiter._ring)
    clock.now += 1.0
    for i in range(100):  # each arrival drops up to two idle players
        assert limiter.is_allowed(f"q{i}")
    assert len(limiter) == 100, "the idle p* were dropped as fast as the q* arrived"
    assert not any(f"p{i}" in limiter for i in range(100))
    assert len(limiter._ring) == ring_size, "freed slots are reused, the ring does not grow"


def test_sweep_drops_every_idle_window(clock: FakeClock) -> None:
    limiter = CommandRateLimiter(3, 1.0, clock=clock)
    for i in range(10):
        limiter.try_acquire(f"p{i}", 2)
    clock.now += 0.5
    limiter.is_allowed("late")
    clock.now += 0.5
    assert limiter.sweep() == 10
    assert list(iter(limiter._oldest)) == ["late"]
    assert limiter.remaining("late") == 2


def test_active_players_are_not_evicted(clock: FakeClock) -> None:
    limiter = CommandRateLimiter(2, 1.0, clock=clock)
    limiter.is_allowed("a")
    clock.now += 0.5
    limiter.is_allowed("b")
    clock.now += 0.6  # a is idle, b is not
    limiter.is_allowed("c")
    assert "a" not in limiter
    assert "b" in limiter
    assert limiter.remaining("b") == 1


def test_a_reused_slot_starts_empty(clock: FakeClock) -> None:
    limiter = CommandRateLimiter(2, 1.0, clock=clock)
    limiter.try_acquire("a", 2)
    limiter.forget("a")
    assert "a" not in limiter
    assert limiter.try_acquire("b", 2), "b got a's slot, reset"
    limiter.forget("nobody")


@pytest.mark.parametrize(("max_commands", "window"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_invalid_settings(max_commands: int, window: float) -> None:
    with pytest.raises(ValueError):
        CommandRateLimiter(max_commands, window)


def test_defaults_match_the_design() -> None:
    limiter = CommandRateLimiter()
    assert (limiter.max_commands, limiter.window_seconds) == (10, 1.0)
