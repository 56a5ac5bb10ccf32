"""Each config test starts from an empty environment with no env file."""

from __future__ import annotations

import pytest

from mythos.config import reset_config

VARIABLES = (
    "SERVER_HOST SERVER_PORT HEARTBEAT_INTERVAL EVENT_BUFFER_SIZE CLIENT_DIST_DIR DATA_DIR WORLD_FILE "
    "DATABASE_URL NPC_DATABASE_URL NATS_ENABLED NATS_URL NATS_MAX_PAYLOAD NATS_RECONNECT_WAIT "
    "NATS_MAX_RECONNECT_ATTEMPTS NATS_CONNECT_TIMEOUT NATS_PING_INTERVAL NATS_MAX_OUTSTANDING_PINGS "
    "NATS_RECONNECT_WATCHDOG NATS_USE_JETSTREAM NATS_PUBLISH_RETRY_ATTEMPTS NATS_PUBLISH_RETRY_BASE_DELAY "
    "NATS_PUBLISH_RETRY_MAX_DELAY NATS_BREAKER_FAILURE_THRESHOLD NATS_BREAKER_TIMEOUT "
    "NATS_BREAKER_SUCCESS_THRESHOLD MYTHOSMUD_ADMIN_PASSWORD MYTHOSMUD_JWT_SECRET INVITE_CODES_FILE "
    "ACCESS_TOKEN_TTL_MINUTES RATE_LIMIT_MAX_COMMANDS RATE_LIMIT_WINDOW_SECONDS MAX_ALIAS_EXPANSION "
    "MAX_ALIAS_DEPTH MAX_EXPANDED_COMMAND_LENGTH LOGGING_ENVIRONMENT LOG_LEVEL LOG_FORMAT LOG_BASE_DIR"
).split()

VALID = {
    "SERVER_PORT": "8123",
    "DATABASE_URL": "sqlite+aiosqlite:///data/mythos.db",
    "NPC_DATABASE_URL": "sqlite+aiosqlite:///data/npcs.db",
    "MYTHOSMUD_ADMIN_PASSWORD": "Elder-Sign-7f3",
    "MYTHOSMUD_JWT_SECRET": "q8Zr1mXo3VfL0kP9sTnW4yB7cD2eG5hJ6uA",
    "LOGGING_ENVIRONMENT": "unit_test",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MYTHOS_ENV_FILE", "")
    monkeypatch.chdir(tmp_path)
    reset_config()
    yield
    reset_config()


@pytest.fixture
def valid_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    return dict(VALID)
