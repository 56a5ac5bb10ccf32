"""The rate limiter against a plain reference model (a list of timestamps), under a fake clock."""

from __future__ import annotations

import math

from hypothesis import note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from mythos.commands.rate_limiter import CommandRateLimiter
from tests.property.budget import examples

PLAYERS = ("ann", "bob", "cy")


class Model:
    """Obviously correct and slow: keep every accepted time, count those still inside the window."""

    def __init__(self, max_commands: int, window: float) -> None:
        self.max_commands = max_commands
        self.window = window
        self.accepted: dict[str, list[float]] = {}

    def live(self, player: str, now: float) -> list[float]:
        return sorted(t + self.window for t in self.accepted.get(player, []) if t + self.window > now)

    def try_acquire(self, player: str, n: int, now: float) -> bool:
        if n > self.max_commands or len(self.live(player, now)) + n > self.max_commands:
            return False
        self.accepted.setdefault(player, []).extend([now] * n)
        return True

    def wait(self, player: str, n: int, now: float) -> float:
        if n > self.max_commands:
            return math.inf
        live = self.live(player, now)
        must_expire = len(live) + n - self.max_commands
        if must_expire <= 0:
            return 0.0
        return live[must_expire - 1] - now


class RateLimiterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.limiter: CommandRateLimiter | None = None
        self.model: Model | None = None

    @initialize(max_commands=st.integers(1, 6), window=st.sampled_from([0.25, 0.5, 1.0, 1.5]))
    def setup(self, max_commands: int, window: float) -> None:
        note(f"limit {max_commands} per {window} s")
        self.limiter = CommandRateLimiter(max_commands, window, clock=lambda: self.now)
        self.model = Model(max_commands, window)

    @rule(dt=st.sampled_from([0.0, 0.0, 0.125, 0.25, 0.5, 1.0, 2.0]))
    def advance(self, dt: float) -> None:
        self.now += dt
        note(f"t={self.now}")

    @precondition(lambda self: self.limiter is not None)
    @rule(player=st.sampled_from(PLAYERS), n=st.integers(1, 8))
    def acquire(self, player: str, n: int) -> None:
        assert self.limiter is not None and self.model is not None
        got = self.limiter.try_acquire(player, n)
        expected = self.model.try_acquire(player, n, self.now)
        note(f"{player} x{n}: {got}")
        assert got == expected

    @precondition(lambda self: self.limiter is not None)
    @rule(player=st.sampled_from(PLAYERS))
    def forget(self, player: str) -> None:
        assert self.limiter is not None and self.model is not None
        self.limiter.forget(player)
        self.model.accepted.pop(player, None)

    @precondition(lambda self: self.limiter is not None)
    @rule()
    def sweep(self) -> None:
        assert self.limiter is not None and self.model is not None
        self.limiter.sweep()  # drops only idle windows: nothing observable may change

    @precondition(lambda self: self.limiter is not None)
    @invariant()
    def waits_agree(self) -> None:
        assert self.limiter is not None and self.model is not None
        for player in PLAYERS:
            for n in range(1, self.model.max_commands + 2):
                assert self.limiter.get_wait_time(player, n) == self.model.wait(player, n, self.now)
            assert self.limiter.remaining(player) == sum(
                1 for n in range(1, self.model.max_commands + 1) if self.model.wait(player, n, self.now) == 0.0
            )

    @precondition(lambda self: self.limiter is not None)
    @invariant()
    def memory_follows_active_players(self) -> None:
        assert self.limiter is not None
        assert len(self.limiter) <= len(PLAYERS)


TestRateLimiterStateful = RateLimiterMachine.TestCase
TestRateLimiterStateful.settings = settings(max_examples=examples("stateful"))
