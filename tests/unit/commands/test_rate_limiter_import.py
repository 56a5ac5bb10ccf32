"""CommandRateLimiter.ages / import_ages: a player's window handed from one server to another."""

from __future__ import annotations

import pytest

from mythos.commands.rate_limiter import CommandRateLimiter


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_ages_are_the_accepted_commands_still_in_the_window_oldest_first() -> None:
    clock = FakeClock()
    limiter = CommandRateLimiter(3, 1.0, clock=clock)
    assert limiter.ages("a") == []
    for _ in range(2):
        assert limiter.is_allowed("a")
        clock.now += 0.4
    assert limiter.ages("a") == pytest.approx([0.8, 0.4])
    clock.now += 0.3  # the first left the window at 1.0 s
    assert limiter.ages("a") == pytest.approx([0.7])


def test_imported_ages_fill_the_window_on_another_server_with_another_clock() -> None:
    old = CommandRateLimiter(10, 1.0, clock=FakeClock(5_000.0))
    clock = FakeClock(7.0)  # the new server's monotonic clock has nothing in common with the old one's
    new = CommandRateLimiter(10, 1.0, clock=clock)
    old_clock = old._clock
    assert isinstance(old_clock, FakeClock)
    for _ in range(10):
        assert old.is_allowed("a")
        old_clock.now += 0.05
    # 10 accepted over 0.5 s on the old server; 0.05 s after the last one they arrive here.
    assert new.import_ages("a", old.ages("a")) == 10
    assert not new.is_allowed("a"), "the budget spent on the other server is spent here"
    assert new.get_wait_time("a") == pytest.approx(0.5, abs=1e-9)  # the oldest was 0.5 s old
    clock.now += 0.5
    assert new.is_allowed("a") and not new.is_allowed("a"), "one slot freed per command that aged out"


def test_import_merges_rank_by_rank_so_a_window_handed_back_counts_each_command_once() -> None:
    clock = FakeClock()
    limiter = CommandRateLimiter(4, 1.0, clock=clock)
    for _ in range(3):
        assert limiter.is_allowed("a")
        clock.now += 0.1
    # The other server's window already holds these three (they were handed to it) and one more.
    ages = [age + 0.01 for age in limiter.ages("a")] + [0.0]
    assert limiter.import_ages("a", ages) == 4
    assert not limiter.is_allowed("a")
    assert limiter.ages("a") == pytest.approx([0.31, 0.21, 0.11, 0.0]), "four commands, not seven"
    clock.now += 0.7  # the oldest (0.31 s old as imported) has left the window: one slot free
    assert limiter.remaining("a") == 1


def test_import_ignores_ages_beyond_the_window_and_clamps_negative_ones() -> None:
    clock = FakeClock()
    limiter = CommandRateLimiter(3, 1.0, clock=clock)
    assert limiter.import_ages("a", [5.0, 1.0]) == 0
    assert "a" not in limiter
    assert limiter.import_ages("a", [-0.2]) == 1  # clock noise: counted as just now
    assert limiter.get_wait_time("a", 3) == pytest.approx(1.0)


def test_import_keeps_only_the_newest_budget_and_the_fast_path_still_agrees() -> None:
    clock = FakeClock()
    limiter = CommandRateLimiter(3, 1.0, clock=clock)
    assert limiter.import_ages("a", [0.9, 0.8, 0.7, 0.1, 0.2]) == 3
    assert limiter.ages("a") == pytest.approx([0.7, 0.2, 0.1])
    assert not limiter.try_acquire("a", 1)
    clock.now += 0.3
    assert limiter.try_acquire("a", 1) and not limiter.try_acquire("a", 1)
