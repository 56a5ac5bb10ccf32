"""AuditLogger: record shape, daily files, and no torn or lost line under concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from mythos.commands.audit import COMMAND_PREFIX_CHARS, AuditLogger, command_digest

DAY = datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC)


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def read_lines(path: Path) -> list[dict[str, Any]]:
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
        "command_length": 12,
        "command_sha256": command_digest("teleport bob"),
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
    audit.log_command("ann", "x" * 20_000, False)
    audit.log_login_failure("mallory", "10.0.0.9", session_id="s2", reason="bad password")
    first, second = read_lines(audit.path_for(DAY))
    assert first["command"] == "x" * COMMAND_PREFIX_CHARS and first["command_length"] == 20_000
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


# -- issue 12, item 4: refused commands must not flood the audit log -------------------------------


def _all_lines(directory: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(directory.glob("audit-*")):
        out += read_lines(path)
    return out


def _bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.glob("audit-*"))


def test_a_flood_of_long_refused_lines_costs_a_few_hundred_bytes_each(tmp_path: Path) -> None:
    clock = Clock(DAY)
    audit = AuditLogger(tmp_path, clock=clock)
    for i in range(200):
        clock.moment = DAY - timedelta(seconds=30) + timedelta(milliseconds=i)
        line = f"say {i} " + "A" * 16_000
        meta = {"source": "ws", "error_type": "invalid_command", "reason": "command longer than 1000 characters"}
        audit.log_command("mallory", line, False, "10.0.0.9", meta, session_id="s" * 5000)
    audit.close()
    per_refusal = _bytes(tmp_path) / 200
    assert per_refusal <= 512, f"{per_refusal:.0f} bytes per refusal"
    records = _all_lines(tmp_path)
    assert sum(int(r["metadata"].get("count", 1)) for r in records) == 200


def test_a_command_is_kept_as_a_prefix_a_hash_and_a_length(tmp_path: Path) -> None:
    import hashlib

    audit = AuditLogger(tmp_path, clock=Clock(DAY))
    command = "say " + "\u00e9" * 5000
    audit.log_command("ann", command, True, metadata={"expanded": ["say " + "x" * 10_000] * 10})
    audit.close()
    (record,) = read_lines(audit.path_for(DAY))
    assert command.startswith(str(record["command"])) and len(str(record["command"])) <= 64
    assert record["command_length"] == len(command)
    assert record["command_sha256"] == hashlib.sha256(command.encode()).hexdigest()[:16]
    assert audit.path_for(DAY).stat().st_size < 2048, "metadata is bounded too"


def test_repeated_refusals_collapse_into_one_line_per_window_with_an_exact_count(tmp_path: Path) -> None:
    clock = Clock(DAY - timedelta(hours=1))
    audit = AuditLogger(tmp_path, clock=clock, collapse_window=60.0, refusal_burst=3, autoflush=False)
    for i in range(50):
        clock.moment += timedelta(milliseconds=100)
        audit.log_command("mallory", f"bad {i}", False, metadata={"error_type": "rate_limited" if i % 2 else "x"})
    audit.log_command("ann", "teleport bob", True)  # others are not held back
    full = read_lines(audit.path_for(clock.moment))
    assert [r["command"] for r in full] == ["bad 0", "bad 1", "bad 2", "teleport bob"]
    clock.moment += timedelta(seconds=61)
    audit.flush_expired()
    *_, summary = read_lines(audit.path_for(clock.moment))
    assert summary["player"] == "mallory" and summary["success"] is False
    meta = summary["metadata"]
    assert isinstance(meta, dict)
    assert meta["event"] == "refusals_collapsed" and meta["count"] == 47
    assert meta["error_types"] == {"x": 23, "rate_limited": 24}
    audit.log_command("mallory", "bad again", False)  # a new window: written in full
    audit.log_command("mallory", "bad again 2", False)
    audit.log_command("mallory", "bad again 3", False)
    audit.log_command("mallory", "held", False)
    audit.close()  # shutdown flushes what is held
    records = read_lines(audit.path_for(clock.moment))
    assert records[-1]["metadata"]["count"] == 1
    assert sum(int(r["metadata"].get("count", 1)) for r in records if r["player"] == "mallory") == 54


def test_the_log_rotates_by_size_and_keeps_a_bounded_number_of_files(tmp_path: Path) -> None:
    audit = AuditLogger(tmp_path, clock=Clock(DAY), max_bytes=4096, backup_count=2)
    for i in range(400):
        assert audit.log_command(f"p{i}", f"teleport p{i} hall", True, metadata={"i": i})
    audit.close()
    files = sorted(tmp_path.glob("audit-*"))
    assert len(files) == 3, files
    assert all(p.stat().st_size <= 4096 + 400 for p in files)
    kept = sorted(int(r["metadata"]["i"]) for r in _all_lines(tmp_path))
    assert kept == list(range(kept[0], 400)), "the newest lines are kept, in order, none torn"


def test_write_failures_are_counted_and_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    audit = AuditLogger(blocker / "sub", clock=Clock(DAY))
    assert audit.healthy and audit.write_errors == 0
    assert audit.log_command("ann", "look", True) is False
    assert audit.log_command("ann", "look", True) is False
    assert not audit.healthy and audit.write_errors == 2 and audit.last_error
    blocker.unlink()
    assert audit.log_command("ann", "look", True)
    assert audit.healthy and audit.write_errors == 2
    assert audit.status() == {"healthy": True, "write_errors": 2, "last_error": audit.last_error}


def test_a_window_that_ends_is_flushed_without_further_calls(tmp_path: Path) -> None:
    import time

    audit = AuditLogger(tmp_path, collapse_window=0.2, refusal_burst=1)
    for i in range(5):
        audit.log_command("mallory", f"bad {i}", False, metadata={"error_type": "invalid_command"})
    path = audit.path_for(datetime.now(UTC))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(read_lines(path)) < 2:
        time.sleep(0.05)
    first, summary = read_lines(path)
    assert first["command"] == "bad 0"
    assert summary["metadata"]["count"] == 4 and summary["command"] == "bad 4"
    audit.close()
    assert len(read_lines(path)) == 2, "close() writes nothing twice"


def test_open_windows_are_bounded_and_evicted_with_their_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mythos.commands.audit._MAX_WINDOWS", 3)
    audit = AuditLogger(tmp_path, clock=Clock(DAY), refusal_burst=1, autoflush=False)
    for name in ("a", "b", "c", "d", "e"):
        audit.log_command(name, "x", False)
        audit.log_command(name, "y", False)
    assert len(audit._windows) <= 3
    audit.close()
    records = read_lines(audit.path_for(DAY))
    assert sum(int(r["metadata"].get("count", 1)) for r in records) == 10


def test_two_writers_rotating_the_same_file_neither_tear_nor_double_rotate(tmp_path: Path) -> None:
    one = AuditLogger(tmp_path, clock=Clock(DAY), max_bytes=2048, backup_count=50)
    two = AuditLogger(tmp_path, clock=Clock(DAY), max_bytes=2048, backup_count=50)
    for i in range(200):
        (one if i % 2 else two).log_command("w", "teleport x", True, metadata={"i": i})
    one.close()
    two.close()
    seen = sorted(int(r["metadata"]["i"]) for r in _all_lines(tmp_path))
    assert seen == list(range(200))
    assert all(p.stat().st_size <= 2 * 2048 for p in tmp_path.glob("audit-*"))
