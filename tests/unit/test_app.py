from __future__ import annotations

from pathlib import Path

import pytest

from mythos.app import app_factory, services_of
from mythos.config import reset_config
from tests.factories import ADMIN_PASSWORD, JWT_SECRET


def test_app_factory_reads_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "MYTHOS_ENV_FILE": "",
        "SERVER_PORT": "8765",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'm.db'}",
        "NPC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'n.db'}",
        "MYTHOSMUD_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "MYTHOSMUD_JWT_SECRET": JWT_SECRET,
        "LOGGING_ENVIRONMENT": "unit_test",
        "LOG_BASE_DIR": str(tmp_path / "logs"),
        "NATS_ENABLED": "false",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_config()
    try:
        app = app_factory()
        assert services_of(app).config.server.port == 8765
        assert not services_of(app).config.nats.enabled
    finally:
        reset_config()
