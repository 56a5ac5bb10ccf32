"""LOGIN_* and WS_* settings: read from their variables, safe defaults, cross-field rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mythos.config import load_config
from mythos.login_throttle import BackoffPolicy, guesses_per_hour

DEFAULTS = {
    "LOGIN_FREE_FAILURES": ("security", "login_free_failures", 5),
    "LOGIN_ADDRESS_FREE_FAILURES": ("security", "login_address_free_failures", 20),
    "LOGIN_BACKOFF_BASE_SECONDS": ("security", "login_backoff_base_seconds", 120.0),
    "LOGIN_BACKOFF_MAX_SECONDS": ("security", "login_backoff_max_seconds", 900.0),
    "LOGIN_ACCOUNT_FAILURES_PER_HOUR": ("security", "login_account_failures_per_hour", 50),
    "LOGIN_FAILURE_MEMORY_SECONDS": ("security", "login_failure_memory_seconds", 3600.0),
    "LOGIN_THROTTLE_MAX_ENTRIES": ("security", "login_throttle_max_entries", 100_000),
    "LOGIN_HASH_QUEUE_MAX": ("security", "login_hash_queue_max", 16),
    "LOGIN_SUSPECT_QUEUE_MAX": ("security", "login_suspect_queue_max", 4),
    "WS_PING_BURST": ("server", "ws_ping_burst", 10),
    "WS_PINGS_PER_SECOND": ("server", "ws_pings_per_second", 1.0),
    "WS_BAD_FRAME_BURST": ("server", "ws_bad_frame_burst", 10),
    "WS_BAD_FRAMES_PER_MINUTE": ("server", "ws_bad_frames_per_minute", 6.0),
}


def test_defaults_and_variables(valid_env, monkeypatch) -> None:
    config = load_config()
    for section, attr, default in DEFAULTS.values():
        assert getattr(getattr(config, section), attr) == default, attr
    for variable, (_section, _attr, default) in DEFAULTS.items():
        monkeypatch.setenv(variable, str(int(default) * 2))
    changed = load_config()
    for section, attr, default in DEFAULTS.values():
        assert getattr(getattr(changed, section), attr) == default * 2, attr


def test_default_login_budget_is_within_the_kpi(valid_env) -> None:
    security = load_config().security
    one_address = guesses_per_hour(
        BackoffPolicy(
            security.login_free_failures, security.login_backoff_base_seconds, security.login_backoff_max_seconds
        )
    )
    assert one_address <= 100 and security.login_account_failures_per_hour <= 100


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"LOGIN_BACKOFF_BASE_SECONDS": "1000"}, "LOGIN_BACKOFF_BASE_SECONDS"),
        ({"LOGIN_FAILURE_MEMORY_SECONDS": "60"}, "LOGIN_FAILURE_MEMORY_SECONDS"),
        ({"LOGIN_FREE_FAILURES": "0"}, "LOGIN_FREE_FAILURES"),
        ({"WS_BAD_FRAME_BURST": "0"}, "WS_BAD_FRAME_BURST"),
        ({"WS_PINGS_PER_SECOND": "0"}, "WS_PINGS_PER_SECOND"),
    ],
)
def test_unsafe_values_are_refused(env: dict[str, str], variable: str, valid_env, monkeypatch) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        load_config()
    assert variable in str(info.value)
