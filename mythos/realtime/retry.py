"""Retry with exponential backoff and jitter, for NATS publishes and message processing.

The spec's defaults (3 attempts, 1 s base, 30 s cap) are kept as the class defaults; the game
builds its RetryConfig from config.nats (50 ms base, 1 s cap) because a chat line delayed by
seconds is worse than one dead-lettered and reported (see docs/adr/ADR-004-error-boundaries.md).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mythos.observability.logging import get_logger

__all__ = ["NATSRetryHandler", "PermanentError", "RetryConfig", "is_permanent"]

log = get_logger(__name__)

SleepFn = Callable[[float], Awaitable[None]]


class PermanentError(Exception):
    """An error that a retry cannot fix (missing fields, bad schema): fail at once."""


def is_permanent(error: BaseException) -> bool:
    """Permanent errors are PermanentError and the value/type/key errors of malformed input."""
    return isinstance(error, PermanentError | ValueError | TypeError | KeyError)


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """Backoff parameters; delay(n) = min(max_delay, base_delay * exponential_base ** (n - 1))."""

    max_attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0
    exponential_base: float = 2.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")
        if self.exponential_base < 1:
            raise ValueError("exponential_base must be at least 1")

    @classmethod
    def from_nats_config(cls, nats_config: Any) -> RetryConfig:
        """The game's values from `config.nats` (NATS_PUBLISH_RETRY_*)."""
        return cls(
            max_attempts=int(nats_config.publish_retry_attempts),
            base_delay=float(nats_config.publish_retry_base_delay),
            max_delay=float(nats_config.publish_retry_max_delay),
        )

    def delay_for(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay after failed attempt `attempt` (1-based); full jitter halves the mean, never the cap."""
        delay = min(self.max_delay, self.base_delay * self.exponential_base ** (attempt - 1))
        if self.jitter:
            # "Equal jitter": keep at least half the delay so retries stay spread but never collapse to 0.
            delay = delay / 2 + (rng or random).uniform(0, delay / 2)
        return delay


class NATSRetryHandler:
    """Runs an async callable until it succeeds, a permanent error occurs or attempts run out."""

    def __init__(
        self,
        config: RetryConfig | None = None,
        sleep: SleepFn = asyncio.sleep,
        permanent: Callable[[BaseException], bool] = is_permanent,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config or RetryConfig()
        self._sleep = sleep
        self.permanent = permanent
        self._rng = rng
        self.last_attempts = 0

    async def retry_with_backoff(
        self, func: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
    ) -> tuple[bool, Any]:
        """Return (True, result) on success, else (False, last_error); never raises Exception."""
        self.last_attempts = 1
        try:
            return True, await func(*args, **kwargs)
        except Exception as error:  # the boundary: every failure becomes a value
            return await self.continue_after(error, func, *args, **kwargs)

    async def continue_after(
        self, error: Exception, func: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
    ) -> tuple[bool, Any]:
        """The first attempt already failed with `error` (a caller's inline fast path): back off
        and run the remaining attempts. Same result contract as retry_with_backoff."""
        attempt = 1
        while True:
            self.last_attempts = attempt
            if self.permanent(error):
                log.warning("retry_permanent_error", attempt=attempt, error=repr(error))
                return False, error
            if attempt >= self.config.max_attempts:
                log.warning("retry_exhausted", attempts=attempt, error=repr(error))
                return False, error
            delay = self.config.delay_for(attempt, self._rng)
            log.info("retry_backoff", attempt=attempt, delay_s=round(delay, 4), error=repr(error))
            await self._sleep(delay)
            attempt += 1
            self.last_attempts = attempt
            try:
                return True, await func(*args, **kwargs)
            except Exception as next_error:
                error = next_error
