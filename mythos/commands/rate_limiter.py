"""Per-player sliding-window rate limit, exact, O(1) per check, with bounded memory.

Each player owns a ring of the *expiry times* (acceptance time + window) of their last
``max_commands`` accepted commands, from the oldest on. Because the clock is monotonic the
ring is sorted from the oldest entry on, so "may ``n`` more commands run?" is one comparison: has the
``n``-th oldest entry expired? Storing expiries rather than timestamps makes the refusal and
``get_wait_time`` use the very same float, so waiting exactly the reported time always succeeds.

All rings live in one flat ``array('d')``, each in an N-aligned slot, which costs 8 bytes per
entry instead of a Python float object each; the dict maps a player to the absolute index of
their oldest entry (the slot is that index rounded down to a multiple of N). Memory grows only
when a new player arrives, so that is when idle windows are dropped: each arrival examines a
couple of players from the front of the dict, drops the idle ones and moves the active ones to
the back, a clock-hand sweep that is amortised O(1) and keeps memory proportional to the players
active within about one window. ``sweep()`` drops every idle window at once.

Not thread-safe: it belongs to one event loop.
"""

from __future__ import annotations

import math
import time
from array import array
from collections.abc import Callable, Iterable

__all__ = ["CommandRateLimiter", "MonotonicClock"]

MonotonicClock = Callable[[], float]

_EVICT_PER_CALL = 2


class CommandRateLimiter:
    """At most ``max_commands`` accepted commands per player in any ``window_seconds`` window."""

    def __init__(
        self,
        max_commands: int = 10,
        window_seconds: float = 1,
        *,
        clock: MonotonicClock = time.monotonic,
    ) -> None:
        if max_commands < 1:
            raise ValueError("max_commands must be at least 1")
        if not window_seconds > 0:
            raise ValueError("window_seconds must be positive")
        self.max_commands = max_commands
        self.window_seconds = float(window_seconds)
        self._clock = clock
        self._ring = array("d")
        self._oldest: dict[str, int] = {}
        self._free: list[int] = []
        self._blank = array("d", [-math.inf] * max_commands)

    # -- queries -------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Players currently tracked."""
        return len(self._oldest)

    def __contains__(self, player: object) -> bool:
        return player in self._oldest

    def get_wait_time(self, player: str, n: int = 1) -> float:
        """Seconds until ``n`` commands may run for ``player``: 0.0 when they may run now.

        ``math.inf`` when ``n`` exceeds ``max_commands``: such a batch can never run whole.
        """
        if n <= 0:
            return 0.0
        if n > self.max_commands:
            return math.inf
        pos = self._oldest.get(player)
        if pos is None:
            return 0.0
        return max(0.0, self._ring[self._index(pos, n - 1)] - self._clock())

    def remaining(self, player: str) -> int:
        """How many commands ``player`` may run right now."""
        pos = self._oldest.get(player)
        if pos is None:
            return self.max_commands
        now = self._clock()
        count = 0
        while count < self.max_commands and self._ring[self._index(pos, count)] <= now:
            count += 1
        return count

    # -- updates -------------------------------------------------------------------------------

    def is_allowed(self, player: str) -> bool:
        """Record one command and return True, or return False (recording nothing) when over the limit."""
        now = self._clock()
        pos = self._oldest.get(player)
        if pos is None:
            pos = self._allocate(now)
        elif self._ring[pos] > now:
            return False
        self._ring[pos] = now + self.window_seconds
        pos += 1
        self._oldest[player] = pos - self.max_commands if pos % self.max_commands == 0 else pos
        return True

    def try_acquire(self, player: str, n: int = 1) -> bool:
        """Record ``n`` commands at once, or none: an alias expansion runs whole or not at all."""
        if n <= 0:
            return True
        if n > self.max_commands:
            return False
        now = self._clock()
        pos = self._oldest.get(player)
        if pos is None:
            pos = self._allocate(now)
        elif self._ring[self._index(pos, n - 1)] > now:
            return False
        expiry = now + self.window_seconds
        ring = self._ring
        for i in range(n):
            ring[self._index(pos, i)] = expiry
        self._oldest[player] = self._index(pos, n)
        return True

    def ages(self, player: str) -> list[float]:
        """Seconds since each of the player's accepted commands still inside the window, oldest
        first: what a server that loses the player's session hands to the one that takes it."""
        pos = self._oldest.get(player)
        if pos is None:
            return []
        now = self._clock()
        window = self.window_seconds
        expiries = (self._ring[self._index(pos, i)] for i in range(self.max_commands))
        return [now - (expiry - window) for expiry in expiries if expiry > now]

    def import_ages(self, player: str, ages: Iterable[float]) -> int:
        """Count commands another server accepted for ``player`` ``ages`` seconds ago.

        Ages relative to now, so the servers' clocks need not agree; a negative age counts as 0 and
        one beyond the window is dropped. Merged rank by rank from the newest (the later expiry wins
        at each rank) rather than added: a window handed back and forth between servers holds
        each command once, so nothing is counted twice, and the result is never less strict than
        either side alone. Returns the commands now inside the player's window.
        """
        now = self._clock()
        window = self.window_seconds
        size = self.max_commands
        imported = sorted(now + window - max(0.0, age) for age in ages if age < window)[-size:]
        if not imported:
            return size - self.remaining(player)
        pos = self._oldest.get(player)
        if pos is None:
            pos = self._allocate(now)
            self._oldest[player] = pos
        padded = [-math.inf] * (size - len(imported)) + imported
        ring = self._ring
        for i, expiry in enumerate(padded):
            index = self._index(pos, i)
            if expiry > ring[index]:
                ring[index] = expiry
        return size - self.remaining(player)

    def forget(self, player: str) -> None:
        """Drop a player's window (logout): they start afresh."""
        pos = self._oldest.pop(player, None)
        if pos is not None:
            self._free.append(pos - pos % self.max_commands)

    def sweep(self) -> int:
        """Drop every idle window now (O(players)); returns how many were dropped."""
        now = self._clock()
        idle = [p for p, pos in self._oldest.items() if self._ring[self._index(pos, -1)] <= now]
        for player in idle:
            self.forget(player)
        return len(idle)

    # -- internals -----------------------------------------------------------------------------

    def _index(self, pos: int, offset: int) -> int:
        """Absolute index of the entry ``offset`` places after the oldest one (wrapping in the slot)."""
        size = self.max_commands
        base = pos - pos % size
        return base + (pos - base + offset) % size

    def _allocate(self, now: float) -> int:
        self._evict_idle(now)
        if self._free:
            base = self._free.pop()
            self._ring[base : base + self.max_commands] = self._blank
            return base
        base = len(self._ring)
        self._ring.extend(self._blank)
        return base

    def _evict_idle(self, now: float) -> None:
        oldest = self._oldest
        for _ in range(min(_EVICT_PER_CALL, len(oldest))):
            player = next(iter(oldest))
            pos = oldest.pop(player)
            if self._ring[self._index(pos, -1)] <= now:
                self._free.append(pos - pos % self.max_commands)
            else:
                oldest[player] = pos  # still active: to the back of the hand's round
