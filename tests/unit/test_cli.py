"""`mythos init` and `mythos dlq ...` (issue 12, items 11 and 13): secrets never readable by
others, not even for a moment, and every DLQ admin action from the CLI is audited."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import AliasChoices

from mythos.cli import main
from mythos.config import AppConfig, reset_config
from mythos.local_nats import LocalNatsServer
from mythos.realtime.dead_letter_queue import DeadLetterQueue

VARIABLES = [
    str(field.validation_alias.choices[0])
    for model in AppConfig.SECTIONS.values()
    for field in model.model_fields.values()
    if isinstance(field.validation_alias, AliasChoices)
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MYTHOS_ENV_FILE", "")
    monkeypatch.chdir(tmp_path)
    reset_config()
    yield
    reset_config()


@pytest.fixture
def umask_zero() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_zero")
def test_init_creates_the_secrets_file_0600_from_the_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With umask 0 and chmod disabled, a file written first and narrowed after would be 0666:
    the file must be born 0600, so there is no moment in which others can read the secrets."""
    monkeypatch.setattr(Path, "chmod", lambda self, mode: None)
    monkeypatch.setattr(os, "chmod", lambda *a, **k: None)
    result = CliRunner().invoke(main, ["init", "--port", "8123"])
    assert result.exit_code == 0, result.output
    env = tmp_path / ".env.local"
    assert _mode(env) == 0o600
    assert "MYTHOSMUD_JWT_SECRET=" in env.read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".env.local.")]  # no temp left


@pytest.mark.usefixtures("umask_zero")
def test_init_force_replaces_the_file_and_keeps_it_0600(tmp_path: Path) -> None:
    env = tmp_path / ".env.local"
    assert CliRunner().invoke(main, ["init"]).exit_code == 0
    first = env.read_text()
    refused = CliRunner().invoke(main, ["init"])
    assert refused.exit_code != 0 and env.read_text() == first
    assert CliRunner().invoke(main, ["init", "--force"]).exit_code == 0
    assert env.read_text() != first and _mode(env) == 0o600


def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, nats_url: str) -> None:
    values = {
        "SERVER_PORT": "8123",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'mythos.db'}",
        "NPC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'npcs.db'}",
        "MYTHOSMUD_ADMIN_PASSWORD": "Elder-Sign-7f3",
        "MYTHOSMUD_JWT_SECRET": "q8Zr1mXo3VfL0kP9sTnW4yB7cD2eG5hJ6uA",
        "LOGGING_ENVIRONMENT": "unit_test",
        "DATA_DIR": str(tmp_path / "data"),
        "LOG_BASE_DIR": str(tmp_path / "logs"),
        "NATS_URL": nats_url,
        "NATS_CONNECT_TIMEOUT": "2",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def _chat(message_id: str) -> dict[str, Any]:
    return {"message_id": message_id, "sender_id": 1, "sender_name": "A", "channel": "say",
            "content": f"line {message_id}", "timestamp": "2026-01-01T00:00:00+00:00", "room_id": "hall",
            "_subject": "chat.say.hall"}  # fmt: skip


def _audit(tmp_path: Path) -> list[dict[str, Any]]:
    lines = []
    for path in sorted((tmp_path / "logs").rglob("*.jsonl")):
        lines += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [line for line in lines if line.get("metadata", {}).get("event") == "dlq_admin"]


def test_dlq_commands_write_audit_lines(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, nats_server: LocalNatsServer
) -> None:
    _env(monkeypatch, tmp_path, nats_server.url)
    dlq = DeadLetterQueue(tmp_path / "data" / "dlq")
    for message_id in ("cli-keep", "cli-drop", "cli-old"):
        asyncio.run(dlq.enqueue(_chat(message_id), TimeoutError("no ack"), 3))
    runner = CliRunner()
    assert runner.invoke(main, ["dlq", "delete", "cli-drop"]).exit_code == 0
    assert runner.invoke(main, ["dlq", "delete", "cli-drop"]).exit_code != 0
    replay = runner.invoke(main, ["dlq", "replay", "cli-keep"])
    assert replay.exit_code == 0, replay.output
    assert runner.invoke(main, ["dlq", "purge", "--older-than", "0s"]).exit_code == 0
    assert runner.invoke(main, ["dlq", "show", "bad\x00id"]).exit_code != 0
    lines = _audit(tmp_path)
    seen = [(line["metadata"]["action"], line["metadata"]["ids"], line["success"], line["metadata"]["source"])
            for line in lines]  # fmt: skip
    assert seen == [
        ("delete", ["cli-drop"], True, "cli"),
        ("delete", ["cli-drop"], False, "cli"),
        ("replay", ["cli-keep"], True, "cli"),
        ("purge", ["cli-old"], True, "cli"),
    ]
    assert all(line["player"].startswith("cli:") for line in lines)
    assert lines[3]["metadata"]["result"]["purged"] == 1


def test_db_upgrade_current_and_downgrade(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_db_url: str) -> None:
    """`mythos db` against DATABASE_URL on both engines: each step says where the schema was and is."""
    _env(monkeypatch, tmp_path, "nats://127.0.0.1:4222")
    monkeypatch.setenv("DATABASE_URL", fresh_db_url)
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(main, ["db", *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert "empty (no tables); head is 0001" in run("current")
    assert "none -> 0001 (0001 (head))" in run("upgrade")
    assert "0001 (head)" in run("current")
    assert "0001 -> 0001" in run("upgrade")  # at head already: nothing to do, no error
    refused = runner.invoke(main, ["db", "downgrade", "base"])
    assert refused.exit_code == 2 and "--yes" in refused.output
    assert "0001 (head)" in run("current")
    unknown = runner.invoke(main, ["db", "downgrade", "nonsense"])
    assert unknown.exit_code == 1 and "downgrade failed on" in unknown.output
    assert "Traceback" not in unknown.output
    assert "0001 -> none" in run("downgrade", "base", "--yes")
    assert "empty" in run("current")
