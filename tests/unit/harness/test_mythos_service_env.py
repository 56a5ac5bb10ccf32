"""A game server's environment holds absolute paths, whatever the reports directory looks like."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.services.mythos import MythosServer


def test_relative_reports_dir_gives_absolute_server_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The server runs with its work dir as cwd: a relative path would point inside itself.
    monkeypatch.chdir(tmp_path)
    server = MythosServer(Path("reports/runs/r1"), Path("reports/logs/r1"), nats_url="nats://127.0.0.1:4222")
    env = server.environment()
    assert server.work_dir == tmp_path / "reports/runs/r1/mythos-0"
    assert Path(env["INVITE_CODES_FILE"]).is_absolute()
    assert Path(env["DATA_DIR"]).is_absolute()
    assert env["DATABASE_URL"].startswith(f"sqlite+aiosqlite:///{tmp_path}")
    assert server.process.cwd == server.work_dir
