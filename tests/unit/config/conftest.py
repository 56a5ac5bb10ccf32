"""Each config test starts from an empty environment with no env file."""

from __future__ import annotations

import pytest

from mythos.config import AppConfig, reset_config

# Every variable the models read, so no developer's environment leaks into a test.
VARIABLES = [
    field.validation_alias.choices[0]
    for model in AppConfig.SECTIONS.values()
    for field in model.model_fields.values()
    if field.validation_alias is not None
]

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
