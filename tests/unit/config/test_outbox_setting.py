"""CHAT_OUTBOX_MAX_AGE: how old a queued chat line may be for its server to send it after an outage."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mythos.config import NATSConfig, load_config


def test_the_default_is_two_minutes(valid_env: dict[str, str]) -> None:
    assert load_config().nats.chat_outbox_max_age_seconds == 120.0


@pytest.mark.parametrize("value", ["0", "5", "30.5", "120"])
def test_zero_to_the_duplicate_window_is_accepted(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CHAT_OUTBOX_MAX_AGE", value)
    assert NATSConfig().chat_outbox_max_age_seconds == float(value)


@pytest.mark.parametrize("value", ["-1", "121", "nan", "inf", "two minutes"])
def test_outside_zero_to_the_duplicate_window_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CHAT_OUTBOX_MAX_AGE", value)
    with pytest.raises(ValidationError) as info:
        NATSConfig()
    assert [err["loc"][-1] for err in info.value.errors()] == ["CHAT_OUTBOX_MAX_AGE"]
