"""DeadLetterQueue: operations, idempotency by message_id, replay-after-ack, and crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mythos.realtime.dead_letter_queue import DeadLetterQueue, entry_id_for, is_valid_entry_id


def msg(message_id: str, content: str = "hello") -> dict[str, Any]:
    return {"message_id": message_id, "channel": "say", "content": content, "room_id": "r1"}


async def test_enqueue_get_list_count(tmp_path: Path) -> None:
    dlq = DeadLetterQueue(tmp_path / "dlq")
    first = await dlq.enqueue(msg("m-1"), ConnectionError("down"), 3)
    second = await dlq.enqueue(msg("m-2"), "breaker open", 0)
    assert (first, second) == ("m-1", "m-2")
    assert await dlq.get_pending_count() == 2
    entry = await dlq.get("m-1")
    assert entry is not None
    assert entry.message == msg("m-1")
    assert (entry.error, entry.error_type) == ("down", "ConnectionError")
    assert entry.retry_count == 3
    assert entry.timestamp.endswith("+00:00")
    assert [e.id for e in await dlq.list()] == ["m-1", "m-2"]
    assert [e.id for e in await dlq.list(limit=1)] == ["m-1"]


async def test_same_message_lands_once(tmp_path: Path) -> None:
    dlq = DeadLetterQueue(tmp_path)
    await dlq.enqueue(msg("dup"), "first", 1)
    await dlq.enqueue(msg("dup"), "second", 2)
    assert await dlq.get_pending_count() == 1
    entry = await dlq.get("dup")
    assert entry is not None and entry.error == "first"


async def test_message_without_usable_id_is_keyed_by_content(tmp_path: Path) -> None:
    dlq = DeadLetterQueue(tmp_path)
    body = {"raw": "{not json", "message_id": "../etc/passwd"}
    entry_id = await dlq.enqueue(body, "bad", 0)
    assert entry_id.startswith("h-")
    assert entry_id == entry_id_for(body)
    await dlq.enqueue(body, "bad", 0)
    assert await dlq.get_pending_count() == 1
    assert list(tmp_path.iterdir()) == [tmp_path / f"{entry_id}.json"]


async def test_get_and_delete_unknown_or_unsafe_ids(tmp_path: Path) -> None:
    dlq = DeadLetterQueue(tmp_path)
    assert await dlq.get("nope") is None
    assert await dlq.get("../x") is None
    assert await dlq.delete("nope") is False
    assert await dlq.delete("a/b") is False
    await dlq.enqueue(msg("m"), "e", 1)
    assert await dlq.delete("m") is True
    assert await dlq.get_pending_count() == 0


async def test_replay_removes_only_after_publish_acknowledged(tmp_path: Path) -> None:
    dlq = DeadLetterQueue(tmp_path)
    await dlq.enqueue(msg("m"), "down", 3)
    published: list[dict[str, Any]] = []

    async def failing(data: dict[str, Any]) -> None:
        raise TimeoutError("no ack")

    async def acked(data: dict[str, Any]) -> None:
        published.append(data)

    assert await dlq.replay("m", failing) is False
    entry = await dlq.get("m")
    assert entry is not None and entry.replay_attempts == 1 and "no ack" in entry.error
    assert await dlq.replay("m", acked) is True
    assert published == [msg("m")]
    assert await dlq.get_pending_count() == 0
    assert await dlq.replay("m", acked) is False  # gone


async def test_replay_all(tmp_path: Path) -> None:
    dlq = DeadLetterQueue(tmp_path)
    for i in range(3):
        await dlq.enqueue(msg(f"m{i}"), "e", 1)

    async def publish(data: dict[str, Any]) -> None:
        if data["message_id"] == "m1":
            raise ConnectionError("still down")

    assert await dlq.replay_all(publish) == (2, 1)
    assert [e.id for e in await dlq.list()] == ["m1"]


async def test_purge_older_than(tmp_path: Path) -> None:
    dlq = DeadLetterQueue(tmp_path)
    await dlq.enqueue(msg("old"), "e", 1)
    await dlq.enqueue(msg("new"), "e", 1)
    old = tmp_path / "old.json"
    data = json.loads(old.read_text())
    data["timestamp"] = (datetime.fromisoformat(data["timestamp"]) - timedelta(hours=2)).isoformat()
    old.write_text(json.dumps(data))
    stray = tmp_path / ".tmp-crashed.part"
    stray.write_text("{half")
    os.utime(stray, (time.time() - 7200, time.time() - 7200))
    assert await dlq.purge(timedelta(hours=1)) == 1
    assert [e.id for e in await dlq.list()] == ["new"]
    assert not stray.exists()


async def test_unreadable_file_is_reported_not_returned(tmp_path: Path) -> None:
    dlq = DeadLetterQueue(tmp_path)
    (tmp_path / "broken.json").write_text("{")
    await dlq.enqueue(msg("fine"), "e", 1)
    assert [e.id for e in await dlq.list()] == ["fine"]


WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from mythos.realtime.dead_letter_queue import DeadLetterQueue

    async def main(path: str) -> None:
        dlq = DeadLetterQueue(path)
        blob = "x" * 2_000_000  # large, so a kill often lands inside the write
        i = 0
        while True:
            await dlq.enqueue({"message_id": f"m-{i}", "content": blob, "seq": i}, "down", 3)
            print(f"DONE {i}", flush=True)
            i += 1

    asyncio.run(main(sys.argv[1]))
    """
)


def kill_writer_after(storage: Path, completed: int, extra_sleep: float) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(storage)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[3],
    )
    try:
        assert proc.stdout is not None
        done = 0
        while done < completed:
            line = proc.stdout.readline()
            assert line, "writer died before writing"
            done += line.startswith(b"DONE ")
        time.sleep(extra_sleep)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


async def test_writer_killed_mid_write_never_leaves_a_corrupt_entry(tmp_path: Path) -> None:
    """SIGKILL a writer at varying points; every visible entry is whole, and at least one kill
    must have landed inside a write (a temp file left behind) for the test to count."""
    mid_write_kills = 0
    for round_ in range(8):
        storage = tmp_path / f"dlq{round_}"
        kill_writer_after(storage, completed=2 + round_ % 3, extra_sleep=0.002 * round_)
        dlq = DeadLetterQueue(storage)
        entries = await dlq.list()
        finished = {p for p in storage.iterdir() if p.suffix == ".json" and not p.name.startswith(".")}
        assert len(entries) == len(finished) >= 2 + round_ % 3
        for entry in entries:
            assert len(entry.message["content"]) == 2_000_000
            assert entry.id == f"m-{entry.message['seq']}"
        leftovers = [p for p in storage.iterdir() if p not in finished]
        assert all(p.name.startswith(".tmp-") for p in leftovers)
        mid_write_kills += bool(leftovers)
        assert await dlq.purge(timedelta(seconds=-1)) == len(entries)
        assert list(storage.iterdir()) == []
        if mid_write_kills >= 2:
            break
    assert mid_write_kills >= 1, "no kill landed mid-write; the test proved nothing"


# Issue 12, items 13 and 14: the spec's file shape, strict ids, and a depth kept without scanning.


async def test_entry_file_has_the_spec_keys(tmp_path: Path) -> None:
    dlq = DeadLetterQueue(tmp_path)
    await dlq.enqueue(msg("m-1"), TimeoutError("no ack"), 3)
    raw = json.loads((tmp_path / "m-1.json").read_text())
    assert {"timestamp", "message", "error", "error_type", "retry_count"} <= raw.keys()
    assert "message_data" not in raw and "created_at" not in raw
    assert datetime.fromisoformat(raw["timestamp"]).tzinfo is not None
    assert (raw["message"], raw["error"], raw["error_type"], raw["retry_count"]) == (
        msg("m-1"), "no ack", "TimeoutError", 3,
    )  # fmt: skip


async def test_old_shape_files_are_still_read(tmp_path: Path) -> None:
    old = {"id": "old-1", "message_data": msg("old-1"), "error": "TimeoutError('no ack')",
           "retry_count": 2, "created_at": 1_700_000_000.0, "replay_attempts": 1}  # fmt: skip
    (tmp_path / "old-1.json").write_text(json.dumps(old))
    dlq = DeadLetterQueue(tmp_path)
    [entry] = await dlq.list()
    assert (entry.id, entry.message, entry.retry_count, entry.replay_attempts) == ("old-1", msg("old-1"), 2, 1)
    assert entry.error_type == "TimeoutError"
    assert entry.timestamp == "2023-11-14T22:13:20+00:00" and entry.created_at == 1_700_000_000.0
    published: list[dict[str, Any]] = []

    async def acked(data: dict[str, Any]) -> None:
        published.append(data)

    assert await dlq.replay("old-1", acked) and published == [msg("old-1")]


async def test_ids_must_fully_match_the_pattern(tmp_path: Path) -> None:
    dlq = DeadLetterQueue(tmp_path)
    await dlq.enqueue(msg("m"), "e", 1)
    for bad in ("m\x00", "m\n", "\x00", "", ".m", "m.json", "a/b", "é", "x" * 129):
        assert not is_valid_entry_id(bad)
        assert await dlq.get(bad) is None
        assert await dlq.delete(bad) is False
    assert is_valid_entry_id("m") and is_valid_entry_id("x" * 128)
    assert entry_id_for({"message_id": "caf\u00e9"}).startswith("h-")  # not ASCII: hashed
    assert await dlq.get_pending_count() == 1


async def test_depth_follows_the_queue_without_listing_the_directory(tmp_path: Path) -> None:
    (tmp_path / "before.json").write_text(json.dumps({"id": "before", "message": {}, "error": "e",
                                                       "error_type": "E", "retry_count": 0,
                                                       "timestamp": "2024-01-01T00:00:00+00:00"}))  # fmt: skip
    dlq = DeadLetterQueue(tmp_path)
    seen: list[int] = []
    dlq.watch_depth(seen.append)
    listings = 0
    real = dlq._entry_paths

    def counted() -> list[Path]:
        nonlocal listings
        listings += 1
        return real()

    dlq._entry_paths = counted  # type: ignore[method-assign]
    await dlq.enqueue(msg("a"), "e", 1)  # first use: one listing, then counts
    await dlq.enqueue(msg("b"), "e", 1)
    await dlq.enqueue(msg("b"), "e", 1)  # duplicate: no change
    assert await dlq.delete("a")
    assert not await dlq.delete("a")

    async def acked(data: dict[str, Any]) -> None:
        return None

    assert await dlq.replay("b", acked)
    assert (listings, dlq.depth, seen) == (1, 1, [2, 3, 2, 1])
    assert await dlq.purge(timedelta(seconds=-1)) == 1
    assert dlq.depth == 0 and seen[-1] == 0


async def test_a_change_by_another_process_is_seen_by_the_next_refresh(tmp_path: Path) -> None:
    """The CLI works on the same directory with its own queue: the server's next scrape sees it."""
    server = DeadLetterQueue(tmp_path)
    await server.enqueue(msg("a"), "e", 1)
    await server.enqueue(msg("b"), "e", 1)
    listings = 0
    real = server._entry_paths

    def counted() -> list[Path]:
        nonlocal listings
        listings += 1
        return real()

    server._entry_paths = counted  # type: ignore[method-assign]
    for _ in range(5):
        assert await server.refresh_depth() == 2
    assert listings == 0  # unchanged: a stat, no listing
    cli = DeadLetterQueue(tmp_path)
    assert await cli.delete("a")
    time.sleep(0.01)  # past the file system's mtime granularity on coarse clocks
    await cli.enqueue(msg("c"), "e", 1)
    await cli.enqueue(msg("d"), "e", 1)
    assert await server.refresh_depth() == 3 and listings == 1
    assert await server.refresh_depth() == 3 and listings == 1
    await server.enqueue(msg("e"), "e", 1)  # its own change moves the count without listing again
    assert server.depth == 4 and await server.refresh_depth() == 4 and listings == 1
