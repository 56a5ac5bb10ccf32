"""NATSRetryHandler: success on attempt n, exhaustion, permanent vs transient, the delay sequence."""

from __future__ import annotations

import random

import pytest

from mythos.realtime.retry import NATSRetryHandler, PermanentError, RetryConfig, is_permanent


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class Flaky:
    """Fails with `error` for the first `failures` calls, then returns 'ok'."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or ConnectionError("nats down")
        self.calls = 0

    async def __call__(self, *args: object, **kwargs: object) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return f"ok {args} {kwargs}"


def test_spec_defaults_are_kept() -> None:
    config = RetryConfig()
    assert (config.max_attempts, config.base_delay, config.max_delay, config.exponential_base) == (
        3,
        1.0,
        30.0,
        2.0,
    )


@pytest.mark.parametrize("failures", [0, 1, 2])
async def test_succeeds_on_attempt_n(failures: int) -> None:
    sleep = RecordingSleep()
    func = Flaky(failures)
    handler = NATSRetryHandler(RetryConfig(max_attempts=3), sleep=sleep)
    ok, result = await handler.retry_with_backoff(func, "a", k=1)
    assert ok is True
    assert result == "ok ('a',) {'k': 1}"
    assert func.calls == failures + 1
    assert handler.last_attempts == failures + 1
    assert len(sleep.delays) == failures


async def test_exhaustion_returns_last_error_without_raising() -> None:
    sleep = RecordingSleep()
    func = Flaky(10)
    handler = NATSRetryHandler(RetryConfig(max_attempts=3), sleep=sleep)
    ok, error = await handler.retry_with_backoff(func)
    assert ok is False
    assert isinstance(error, ConnectionError)
    assert func.calls == 3
    assert len(sleep.delays) == 2  # no sleep after the last attempt


@pytest.mark.parametrize("error", [PermanentError("bad schema"), KeyError("content"), ValueError("x")])
async def test_permanent_errors_are_not_retried(error: Exception) -> None:
    sleep = RecordingSleep()
    func = Flaky(10, error)
    ok, result = await NATSRetryHandler(RetryConfig(max_attempts=5), sleep=sleep).retry_with_backoff(func)
    assert ok is False
    assert result is error
    assert func.calls == 1
    assert sleep.delays == []


async def test_delay_sequence_without_jitter_is_exponential_and_capped() -> None:
    sleep = RecordingSleep()
    config = RetryConfig(max_attempts=7, base_delay=1.0, max_delay=10.0, exponential_base=2.0, jitter=False)
    await NATSRetryHandler(config, sleep=sleep).retry_with_backoff(Flaky(100))
    assert sleep.delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


async def test_jitter_stays_between_half_and_full_delay() -> None:
    sleep = RecordingSleep()
    config = RetryConfig(max_attempts=6, base_delay=0.05, max_delay=1.0)
    await NATSRetryHandler(config, sleep=sleep, rng=random.Random(7)).retry_with_backoff(Flaky(100))
    nominal = [0.05, 0.1, 0.2, 0.4, 0.8]
    assert len(sleep.delays) == len(nominal)
    for got, full in zip(sleep.delays, nominal, strict=True):
        assert full / 2 <= got <= full
    assert len(set(sleep.delays)) == len(sleep.delays)  # jitter actually varies


def test_from_nats_config_uses_game_values() -> None:
    class NatsSettings:
        publish_retry_attempts = 4
        publish_retry_base_delay = 0.05
        publish_retry_max_delay = 1.0

    config = RetryConfig.from_nats_config(NatsSettings())
    assert (config.max_attempts, config.base_delay, config.max_delay) == (4, 0.05, 1.0)


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"base_delay": -1.0}, {"exponential_base": 0.5}])
def test_invalid_config_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryConfig(**kwargs)  # type: ignore[arg-type]


def test_is_permanent_classifies() -> None:
    assert is_permanent(PermanentError())
    assert not is_permanent(ConnectionError())
    assert not is_permanent(TimeoutError())
