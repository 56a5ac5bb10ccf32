"""Login throttling and the bounded argon2 queue (docs/protocol.md, "Login throttling").

Each argon2 verification costs 19 MiB and about 0.1 s of CPU (`mythos.auth.ARGON2_PARAMETERS`), so an
unthrottled login flood both guesses passwords and starves real players of the two hash slots. Three counters of failed
logins refuse a guess *before* it is hashed (HTTP 429 with Retry-After):

- per (account, address): `free_failures` failures, then an exponential back-off (base, doubled
  per further failure, capped). This is the throttle a single guesser meets.
- per address, over all accounts: the same back-off with a larger free allowance, for an
  address that sprays many accounts.
- per account, over all addresses: a ceiling of failures per hour. At the ceiling, addresses
  that already failed on the account are refused; an address that has not is still evaluated.

Nothing here refuses an address for what *other* addresses did, except the ceiling does so only
for addresses that are guessing too: the real owner, from an address that has not failed on the
account, always gets a verdict on the right password. That is the rule that keeps the throttle
from becoming a lock-out weapon. The price: an attacker with many addresses gets one guess per
fresh address once the ceiling is reached (`account_ceiling + addresses` per hour at most).

A guess in flight counts against its budgets until it resolves, so concurrent requests cannot
slip past a limit that their own failures would reach. State is in memory, per process, and
bounded: the least recently touched entries are dropped past `max_entries`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mythos.config.models import SecurityConfig

__all__ = [
    "ACCOUNT_WINDOW_SECONDS",
    "BackoffPolicy",
    "HashGate",
    "HashLane",
    "HashQueueFull",
    "Lockout",
    "LoginAttempt",
    "LoginThrottle",
    "LoginThrottled",
    "ThrottleScope",
    "guesses_per_hour",
]

ACCOUNT_WINDOW_SECONDS = 3600.0
UNKNOWN_ADDRESS = "unknown"


class ThrottleScope(StrEnum):
    ACCOUNT_ADDRESS = "account_address"
    ADDRESS = "address"
    ACCOUNT = "account"


_WHY = {
    ThrottleScope.ACCOUNT_ADDRESS: "Too many failed logins for this account from your address",
    ThrottleScope.ADDRESS: "Too many failed logins from your address",
    ThrottleScope.ACCOUNT: "Too many failed logins for this account, yours among them",
}


def _whole_seconds(seconds: float) -> int:
    """Retry-After is whole seconds; round up so a client that waits that long is evaluated."""
    return max(1, math.ceil(seconds - 1e-9))


class LoginThrottled(Exception):
    """A login refused before its password was checked; `retry_after` in whole seconds."""

    def __init__(self, scope: ThrottleScope, retry_after: float) -> None:
        self.scope = scope
        self.retry_after = _whole_seconds(retry_after)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        unit = "second" if self.retry_after == 1 else "seconds"
        return f"{_WHY[self.scope]}: try again in {self.retry_after} {unit}."


class HashQueueFull(Exception):
    """Every hash slot is busy and the waiting places are taken; `retry_after` in whole seconds."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = _whole_seconds(retry_after)
        unit = "second" if self.retry_after == 1 else "seconds"
        super().__init__(f"The server is busy checking other logins: try again in {self.retry_after} {unit}.")


@dataclass(frozen=True)
class BackoffPolicy:
    """`free_failures` failures cost nothing; the n-th after them locks for base * 2**n, capped."""

    free_failures: int
    base_seconds: float
    max_seconds: float

    def __post_init__(self) -> None:
        if self.free_failures < 1 or not 0 < self.base_seconds <= self.max_seconds:
            raise ValueError("free_failures >= 1 and 0 < base_seconds <= max_seconds are required")

    def lockout_after(self, failures: int) -> float:
        if failures < self.free_failures:
            return 0.0
        exponent = min(failures - self.free_failures, 62)
        return float(min(self.max_seconds, self.base_seconds * 2**exponent))


def guesses_per_hour(policy: BackoffPolicy, horizon: float = ACCOUNT_WINDOW_SECONDS) -> int:
    """Guesses one key (an account from one address) gets in `horizon` seconds when the attacker
    guesses the moment each lockout ends: the budget this policy allows."""
    t, failures = 0.0, 0
    while t < horizon:
        failures += 1
        t += policy.lockout_after(failures)
    return failures


@dataclass(frozen=True)
class Lockout:
    """A lockout that a failure started: for the audit log."""

    scope: ThrottleScope
    seconds: int
    failures: int


@dataclass
class _Record:
    failures: int = 0
    last_failure: float = -math.inf
    locked_until: float = 0.0
    in_flight: int = 0
    last_success: float = -math.inf

    def idle(self, now: float, memory: float) -> bool:
        recent = max(self.last_failure, self.last_success)
        return self.in_flight == 0 and self.locked_until <= now and now - recent > memory


@dataclass
class _Account:
    """The last `ceiling` failures on one account (any address), and guesses in flight."""

    failures: deque[float]
    in_flight: int = 0

    def recent(self, now: float) -> int:
        return sum(1 for t in self.failures if now - t < ACCOUNT_WINDOW_SECONDS)

    def idle(self, now: float, _memory: float) -> bool:
        return self.in_flight == 0 and self.recent(now) == 0


class LoginAttempt:
    """One admitted guess: resolve it exactly once with `failed`, `succeeded` or `abandon`."""

    def __init__(self, throttle: LoginThrottle, account: str, address: str, *, lane: HashLane) -> None:
        self._throttle = throttle
        self.account = account
        self.address = address
        self.lane = lane
        """Where this guess queues for a hash slot, from the address's record."""
        self._open = True

    def _close(self) -> bool:
        was_open, self._open = self._open, False
        return was_open

    def failed(self) -> list[Lockout]:
        """A wrong password (or unknown name): counted everywhere; the lockouts this started."""
        return self._throttle._failed(self) if self._close() else []

    def succeeded(self) -> None:
        """The right password: this account's failures from this address are forgiven."""
        if self._close():
            self._throttle._succeeded(self)

    def abandon(self) -> None:
        """No verdict (busy, error, cancelled): the guess was not evaluated and costs nothing."""
        if self._close():
            self._throttle._release(self)


@dataclass
class LoginThrottle:
    """Failed-login counters per (account, address), per address and per account."""

    pair: BackoffPolicy
    address: BackoffPolicy
    account_ceiling: int
    memory_seconds: float = ACCOUNT_WINDOW_SECONDS
    max_entries: int = 100_000
    clock: Callable[[], float] = time.monotonic
    _pairs: OrderedDict[tuple[str, str], _Record] = field(default_factory=OrderedDict, init=False)
    _addresses: OrderedDict[str, _Record] = field(default_factory=OrderedDict, init=False)
    _accounts: OrderedDict[str, _Account] = field(default_factory=OrderedDict, init=False)

    @classmethod
    def from_settings(cls, settings: SecurityConfig) -> LoginThrottle:
        return cls(
            pair=BackoffPolicy(
                settings.login_free_failures, settings.login_backoff_base_seconds, settings.login_backoff_max_seconds
            ),
            address=BackoffPolicy(
                settings.login_address_free_failures,
                settings.login_backoff_base_seconds,
                settings.login_backoff_max_seconds,
            ),
            account_ceiling=settings.login_account_failures_per_hour,
            memory_seconds=settings.login_failure_memory_seconds,
            max_entries=settings.login_throttle_max_entries,
        )

    @staticmethod
    def account_key(username: str) -> str:
        """Accounts are case-insensitive (as the database looks them up)."""
        return username.lower()

    def lane(self, address: str | None) -> HashLane:
        """Suspect with failures on record; trusted with a recent success and no failure; else clean."""
        return self._lane(self._addresses.get(address or UNKNOWN_ADDRESS), self.clock())

    def _lane(self, record: _Record | None, now: float) -> HashLane:
        if record is None:
            return HashLane.CLEAN
        if record.failures > 0:
            return HashLane.SUSPECT
        if now - record.last_success <= self.memory_seconds:
            return HashLane.TRUSTED
        return HashLane.CLEAN

    def begin(self, username: str, address: str | None) -> LoginAttempt:
        """Admit one guess, or raise LoginThrottled saying which limit and for how long."""
        now = self.clock()
        self._forget_idle(now)
        account, addr = self.account_key(username), address or UNKNOWN_ADDRESS
        addr_rec = self._addresses.get(addr)
        pair_rec = self._pairs.get((account, addr))
        self._check(addr_rec, self.address, ThrottleScope.ADDRESS, now)
        self._check(pair_rec, self.pair, ThrottleScope.ACCOUNT_ADDRESS, now)
        acct = self._accounts.get(account)
        if acct is not None and pair_rec is not None and pair_rec.failures > 0:
            recent = acct.recent(now)
            if recent + acct.in_flight >= self.account_ceiling:
                # Full of settled failures: until the oldest leaves the hour; else wait for in-flight.
                oldest = min((t for t in acct.failures if now - t < ACCOUNT_WINDOW_SECONDS), default=now)
                wait = oldest + ACCOUNT_WINDOW_SECONDS - now if recent >= self.account_ceiling else 1.0
                raise LoginThrottled(ThrottleScope.ACCOUNT, wait)
        lane = self._lane(addr_rec, now)
        for rec in (
            self._touch(self._addresses, addr, _Record),
            self._touch(self._pairs, (account, addr), _Record),
        ):
            rec.in_flight += 1
        self._touch(self._accounts, account, self._new_account).in_flight += 1
        return LoginAttempt(self, account, addr, lane=lane)

    @staticmethod
    def _check(record: _Record | None, policy: BackoffPolicy, scope: ThrottleScope, now: float) -> None:
        if record is None:
            return
        if record.locked_until > now:
            raise LoginThrottled(scope, record.locked_until - now)
        if record.in_flight and record.failures + record.in_flight >= policy.free_failures:
            # The guesses in flight would use up the budget if they fail: one at a time from here.
            raise LoginThrottled(scope, 1.0)

    def _new_account(self) -> _Account:
        return _Account(deque(maxlen=self.account_ceiling))

    def _touch(self, table: OrderedDict[Any, Any], key: Any, factory: Callable[[], Any]) -> Any:
        value = table.get(key)
        if value is None:
            value = table[key] = factory()
            while len(table) > self.max_entries:
                table.popitem(last=False)
        else:
            table.move_to_end(key)
        return value

    def _forget_idle(self, now: float) -> None:
        """Drop least recently touched entries that no longer hold anything back."""
        tables: tuple[OrderedDict[Any, Any], ...] = (self._pairs, self._addresses, self._accounts)
        for table in tables:
            for _ in range(8):  # amortised: a few per call keeps every call O(1)
                if not table:
                    break
                key, value = next(iter(table.items()))
                if not value.idle(now, self.memory_seconds):
                    break
                del table[key]

    def _failed(self, attempt: LoginAttempt) -> list[Lockout]:
        now = self.clock()
        lockouts: list[Lockout] = []
        keyed = (
            (self._pairs, (attempt.account, attempt.address), self.pair, ThrottleScope.ACCOUNT_ADDRESS),
            (self._addresses, attempt.address, self.address, ThrottleScope.ADDRESS),
        )
        for table, key, policy, scope in keyed:
            # Recreated if it was evicted while in flight: counting starts again from this failure.
            record: _Record = self._touch(table, key, _Record)
            record.in_flight = max(0, record.in_flight - 1)
            record.failures += 1
            record.last_failure = now
            lock = policy.lockout_after(record.failures)
            if lock > 0:
                record.locked_until = max(record.locked_until, now + lock)
                lockouts.append(Lockout(scope, _whole_seconds(lock), record.failures))
        acct: _Account = self._touch(self._accounts, attempt.account, self._new_account)
        acct.in_flight = max(0, acct.in_flight - 1)
        before = acct.recent(now)
        acct.failures.append(now)
        if before < self.account_ceiling <= acct.recent(now):
            oldest = min(acct.failures)
            wait = _whole_seconds(oldest + ACCOUNT_WINDOW_SECONDS - now)
            lockouts.append(Lockout(ThrottleScope.ACCOUNT, wait, self.account_ceiling))
        return lockouts

    def _succeeded(self, attempt: LoginAttempt) -> None:
        self._release(attempt)
        self._pairs.pop((attempt.account, attempt.address), None)
        # Remembered for the hash queue (a returning player goes first); never forgives failures.
        self._touch(self._addresses, attempt.address, _Record).last_success = self.clock()

    def _release(self, attempt: LoginAttempt) -> None:
        records: tuple[_Record | _Account | None, ...] = (
            self._pairs.get((attempt.account, attempt.address)),
            self._addresses.get(attempt.address),
            self._accounts.get(attempt.account),
        )
        for record in records:
            if record is not None:
                record.in_flight = max(0, record.in_flight - 1)


class HashLane(IntEnum):
    """Who waits for a hash slot, served in this order."""

    TRUSTED = 0
    """An address with a successful login and no failure on record (a returning player)."""
    CLEAN = 1
    """An address the throttle knows nothing about."""
    SUSPECT = 2
    """An address with failed logins on record."""


class HashGate:
    """At most `slots` argon2 hashes at once, a bounded number waiting, and no unbounded queue.

    Waiters are served trusted first, then clean, then suspect addresses (`HashLane`). Clean and
    suspect addresses together hold at most `untrusted_slots` slots (one of two by default) and
    suspect addresses at most `suspect_slots`, so however hard a flood pushes, a returning
    player finds a slot free or freed next. A request that finds its lane's queue full is
    refused at once (HashQueueFull, HTTP 503) with a Retry-After estimated from recent hashes.
    """

    def __init__(
        self,
        slots: int = 2,
        *,
        untrusted_slots: int | None = None,
        suspect_slots: int = 1,
        max_waiting: int = 16,
        max_suspect_waiting: int = 4,
    ) -> None:
        self.slots = slots
        self.untrusted_slots = untrusted_slots if untrusted_slots is not None else max(1, slots - 1)
        self.suspect_slots = suspect_slots
        if not 1 <= self.suspect_slots <= self.untrusted_slots <= slots:
            raise ValueError("1 <= suspect_slots <= untrusted_slots <= slots is required")
        self._limits = {
            HashLane.TRUSTED: max_waiting,
            HashLane.CLEAN: max_waiting,
            HashLane.SUSPECT: max_suspect_waiting,
        }
        self._running = dict.fromkeys(HashLane, 0)
        self._waiting: dict[HashLane, deque[asyncio.Future[None]]] = {lane: deque() for lane in HashLane}
        self.mean_seconds = 0.5  # updated from real hashes (EWMA)
        self.refused = 0

    @property
    def running(self) -> int:
        return sum(self._running.values())

    def waiting(self, lane: HashLane) -> int:
        return len(self._waiting[lane])

    @asynccontextmanager
    async def slot(self, lane: HashLane = HashLane.CLEAN, *, bounded: bool = True) -> AsyncIterator[None]:
        """Hold a hash slot; `bounded=False` waits however long (start-up's admin account)."""
        await self._acquire(lane, bounded)
        started = time.monotonic()
        try:
            yield
        finally:
            self.mean_seconds = 0.8 * self.mean_seconds + 0.2 * (time.monotonic() - started)
            self._release(lane)

    def _lane_slots(self, lane: HashLane) -> int:
        return {HashLane.TRUSTED: self.slots, HashLane.CLEAN: self.untrusted_slots}.get(lane, self.suspect_slots)

    def _can_run(self, lane: HashLane) -> bool:
        if self.running >= self.slots:
            return False
        untrusted = self._running[HashLane.CLEAN] + self._running[HashLane.SUSPECT]
        if lane is not HashLane.TRUSTED and untrusted >= self.untrusted_slots:
            return False
        return lane is not HashLane.SUSPECT or self._running[HashLane.SUSPECT] < self.suspect_slots

    async def _acquire(self, lane: HashLane, bounded: bool) -> None:
        ahead = sum(self.waiting(other) for other in HashLane if other <= lane)
        if ahead == 0 and self._can_run(lane):
            self._running[lane] += 1
            return
        if bounded and self.waiting(lane) >= self._limits[lane]:
            self.refused += 1
            raise HashQueueFull(self.mean_seconds * (ahead + 1) / self._lane_slots(lane))
        queue = self._waiting[lane]
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release(lane)  # granted, then cancelled before it ran: hand it on
            elif future in queue:
                queue.remove(future)
            raise

    def _release(self, lane: HashLane) -> None:
        self._running[lane] -= 1
        for waiting_lane in HashLane:  # in priority order
            queue = self._waiting[waiting_lane]
            while queue and self._can_run(waiting_lane):
                future = queue.popleft()
                if future.done():
                    continue
                self._running[waiting_lane] += 1
                future.set_result(None)
