"""AuditLogger: record shape, daily files, and no torn or lost line under concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from mythos.commands.audit import MAX_FIELD_LENGTH, AuditLogger

DAY = datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC)


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def read_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="ascii").splitlines()]


def test_one_json_object_per_line_with_every_field(tmp_path: Path) -> None:
    audit = AuditLogger(tmp_path, clock=Clock(DAY))
    assert audit.log_command("ann", "teleport bob", True, "127.0.0.1", {"source": "ws"}, session_id="s1")
    assert audit.log_command("bob", 'say \n{"forged": true}', False)
    lines = read_lines(tmp_path / "audit-2026-11-25.jsonl")
    assert lines[0] == {
        "timestamp": "2026-11-25T23:59:59+00:00",
        "player": "ann",
        "command": "teleport bob",
        "success": True,
        "ip_address": "127.0.0.1",
        "session_id": "s1",
        "metadata": {"source": "ws"},
    }
    assert lines[1]["command"] == 'say \n{"forged": true}', "a newline in a command stays inside its record"
    assert len(lines) == 2
    audit.close()


def test_timestamps_are_utc_and_files_are_daily(tmp_path: Path) -> None:
    clock = Clock(DAY.astimezone(timezone(timedelta(hours=-5))))
    audit = AuditLogger(tmp_path / "logs" / "commands.log", clock=clock)
    audit.log_command("ann", "look", True)
    clock.moment = DAY + timedelta(seconds=2)
    audit.log_command("ann", "look", True)
    audit.close()
    first = read_lines(tmp_path / "logs" / "commands-2026-11-25.log")
    second = read_lines(tmp_path / "logs" / "commands-2026-11-26.log")
    assert first[0]["timestamp"] == "2026-11-25T23:59:59+00:00"
    assert second[0]["timestamp"] == "2026-11-26T00:00:01+00:00"


def test_directory_without_suffix_is_created(tmp_path: Path) -> None:
    audit = AuditLogger(tmp_path / "audit", clock=Clock(DAY))
    assert audit.path_for(DAY) == tmp_path / "audit" / "audit-2026-11-25.jsonl"
    audit.log_command("ann", "look", True)
    assert audit.path_for(DAY).exists()


def test_long_commands_are_clipped_and_login_failures_recorded(tmp_path: Path) -> None:
    audit = AuditLogger(tmp_path, clock=Clock(DAY), fsync=True)
    audit.log_command("ann", "x" * (MAX_FIELD_LENGTH + 5), False)
    audit.log_login_failure("mallory", "10.0.0.9", session_id="s2", reason="bad password")
    first, second = read_lines(audit.path_for(DAY))
    assert str(first["command"]).endswith("...[5 more]")
    assert second["command"] == "login" and second["success"] is False
    assert second["metadata"] == {"event": "login_failed", "reason": "bad password"}


def test_write_failure_is_reported_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    audit = AuditLogger(blocker / "sub", clock=Clock(DAY))
    assert audit.log_command("ann", "look", True) is False


def _write_many(directory: str, writer: int, count: int) -> None:
    audit = AuditLogger(directory, clock=Clock(DAY))
    padding = "p" * (writer * 997 % 3000)  # lines of different sizes, some over a page
    for i in range(count):
        audit.log_command(f"w{writer}", f"say {i} {padding}", True, metadata={"i": i, "writer": writer})
    audit.close()


def _assert_complete(path: Path, writers: int, count: int) -> None:
    seen = set()
    for line in path.read_text(encoding="ascii").splitlines():
        record = json.loads(line)  # a torn line would not parse
        seen.add((record["metadata"]["writer"], record["metadata"]["i"]))
    assert seen == {(w, i) for w in range(writers) for i in range(count)}


def test_concurrent_threads_neither_tear_nor_lose_lines(tmp_path: Path) -> None:
    audit = AuditLogger(tmp_path, clock=Clock(DAY))

    def run(writer: int) -> None:
        for i in range(300):
            audit.log_command(f"w{writer}", "say " + "t" * writer * 500, True, metadata={"i": i, "writer": writer})

    threads = [threading.Thread(target=run, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    _assert_complete(audit.path_for(DAY), 6, 300)


def test_concurrent_processes_neither_tear_nor_lose_lines(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), w, 400)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    _assert_complete(tmp_path / "audit-2026-11-25.jsonl", 4, 400)


def test_default_clock_is_utc_now_and_close_is_idempotent(tmp_path: Path) -> None:
    audit = AuditLogger(tmp_path)
    before = datetime.now(UTC)
    audit.log_command("ann", "look", True)
    audit.close()
    audit.close()
    (line,) = read_lines(audit.path_for(before))
    assert datetime.fromisoformat(str(line["timestamp"])) >= before


def test_a_short_write_is_completed_not_torn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    real_write = os.write
    calls = []

    def short_then_full(fd: int, data: bytes) -> int:
        calls.append(len(data))
        return real_write(fd, data[:10]) if len(calls) == 1 else real_write(fd, data)

    audit = AuditLogger(tmp_path, clock=Clock(DAY))
    monkeypatch.setattr("mythos.commands.audit.os.write", short_then_full)
    audit.log_command("ann", "look", True)
    assert len(read_lines(audit.path_for(DAY))) == 1
    assert len(calls) == 2
