"""Dead-letter queue: one JSON file per failed message, written atomically.

Write path: temporary file in the same directory, fsync, rename over the final name, fsync the
directory. A reader therefore sees either no entry or a whole one; a crash mid-write leaves at
most a `.tmp-*` file, which listing ignores and `purge` sweeps up. The entry id is derived from
the message_id, so enqueueing the same message twice leaves one entry.

An entry file carries the spec's keys, `timestamp` (ISO 8601), `message`, `error` (text),
`error_type` and `retry_count`, with `id` and `replay_attempts` beside them, and, for a line a
server failed to publish, `origin` (that server's id: only it drains the line, see outbox.py) and
`outbox` ("expired" once the drain refused it as too old). Files of the older shape
(`message_data`, `created_at` in epoch seconds, a repr'd error) are still read.

The queue keeps its depth in memory: counted once on first use, then moved by its own enqueue,
delete, replay and purge, so a metrics scrape does not list the directory; it stats it, and
counts again only when another process (the `mythos dlq` CLI) changed it.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mythos.observability.logging import get_logger

__all__ = ["ENTRY_ID_PATTERN", "DeadLetterEntry", "DeadLetterQueue", "entry_id_for", "is_valid_entry_id"]

log = get_logger(__name__)

PublishFn = Callable[[dict[str, Any]], Awaitable[Any]]
DepthListener = Callable[[int], None]
SUFFIX = ".json"
TMP_PREFIX = ".tmp-"
ENTRY_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
"""What an entry id may be: also what a file name may be, so no path, dot or NUL gets through."""
_REPR_TYPE = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)\(")


def is_valid_entry_id(entry_id: object) -> bool:
    return isinstance(entry_id, str) and ENTRY_ID_PATTERN.fullmatch(entry_id) is not None


def entry_id_for(message_data: dict[str, Any]) -> str:
    """Stable id: the message_id when it is a valid id (idempotent), else a hash of the body."""
    message_id = message_data.get("message_id")
    if is_valid_entry_id(message_id):
        return str(message_id)
    body = json.dumps(message_data, sort_keys=True, default=str).encode()
    return "h-" + hashlib.sha256(body).hexdigest()[:32]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def describe_error(error: str | BaseException, error_type: str | None = None) -> tuple[str, str]:
    """(error text, error type name) for an entry: an exception's own message and class name."""
    if isinstance(error, BaseException):
        return str(error) or type(error).__name__, error_type or type(error).__name__
    return error, error_type or "unknown"


@dataclass(slots=True)
class DeadLetterEntry:
    """One dead letter; the field names are the entry file's keys."""

    id: str
    message: dict[str, Any]
    error: str
    error_type: str
    retry_count: int
    timestamp: str = field(default_factory=_now_iso)
    replay_attempts: int = 0
    origin: str | None = None
    """The server whose publish failed: the only one that drains the line (None: operators only)."""
    outbox: str | None = None
    """"expired" once the server's drain refused the line as too old (kept for the operators)."""

    @property
    def created_at(self) -> float:
        """`timestamp` in epoch seconds (for ordering and purge)."""
        return datetime.fromisoformat(self.timestamp).timestamp()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "timestamp": self.timestamp,
            "message": self.message,
            "error": self.error,
            "error_type": self.error_type,
            "retry_count": self.retry_count,
            "replay_attempts": self.replay_attempts,
        }
        if self.origin is not None:
            data["origin"] = self.origin
        if self.outbox is not None:
            data["outbox"] = self.outbox
        return data

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> DeadLetterEntry:
        """Read either shape; the old one had message_data, created_at (epoch) and a repr'd error."""
        if "message" in raw and "timestamp" in raw:
            datetime.fromisoformat(str(raw["timestamp"]))  # refuse a timestamp that is not ISO
            return cls(
                id=str(raw["id"]),
                message=dict(raw["message"]),
                error=str(raw["error"]),
                error_type=str(raw.get("error_type") or "unknown"),
                retry_count=int(raw["retry_count"]),
                timestamp=str(raw["timestamp"]),
                replay_attempts=int(raw.get("replay_attempts", 0)),
                origin=None if raw.get("origin") is None else str(raw["origin"]),
                outbox=None if raw.get("outbox") is None else str(raw["outbox"]),
            )
        error = str(raw["error"])
        old_type = _REPR_TYPE.match(error)
        return cls(
            id=str(raw["id"]),
            message=dict(raw["message_data"]),
            error=error,
            error_type=str(raw.get("error_type") or (old_type.group(1) if old_type else "unknown")),
            retry_count=int(raw["retry_count"]),
            timestamp=datetime.fromtimestamp(float(raw.get("created_at", 0.0)), UTC).isoformat(),
            replay_attempts=int(raw.get("replay_attempts", 0)),
        )


class DeadLetterQueue:
    """Directory-backed DLQ; blocking file work runs in a thread so the event loop keeps serving."""

    def __init__(self, storage_path: str | os.PathLike[str]) -> None:
        self.storage_path = Path(storage_path)
        self.storage_path.mkdir(parents=True, exist_ok=True)
        self._lock = asyncio.Lock()
        self._depth: int | None = None
        self._seen_mtime: int | None = None
        # File work runs in worker threads that finish even when their awaiting task is
        # cancelled, so the count is moved there, under a thread lock, next to the file change.
        self._depth_lock = threading.Lock()
        self._depth_listeners: builtins.list[DepthListener] = []

    def _path(self, entry_id: str) -> Path:
        if not is_valid_entry_id(entry_id):
            raise KeyError(entry_id)
        return self.storage_path / f"{entry_id}{SUFFIX}"

    # -- depth ---------------------------------------------------------------------------------
    @property
    def depth(self) -> int | None:
        """Entries in the queue as this process last knew them; None before first use."""
        return self._depth

    def watch_depth(self, listener: DepthListener) -> None:
        """Call `listener(depth)` whenever the depth changes (the metrics gauge); once now if known."""
        if listener not in self._depth_listeners:
            self._depth_listeners.append(listener)
        if self._depth is not None:
            listener(self._depth)

    def _dir_mtime(self) -> int:
        return os.stat(self.storage_path).st_mtime_ns

    def _count_once(self) -> None:
        """Blocking, before a change: count the directory on first use, or when another process
        (the `mythos dlq` CLI) changed it since this queue's last change."""
        with self._depth_lock:
            if self._depth is None or self._dir_mtime() != self._seen_mtime:
                self._depth = len(self._entry_paths())

    def _move_depth(self, delta: int = 0, recount: bool = False) -> None:
        """Blocking, after a change: add `delta` (or count again), note the directory's mtime as
        this queue's own, and tell the listeners."""
        with self._depth_lock:
            if recount or self._depth is None:
                self._depth = len(self._entry_paths())
            else:
                self._depth = max(0, self._depth + delta)
            self._seen_mtime = self._dir_mtime()
            depth = self._depth
        for listener in self._depth_listeners:
            listener(depth)

    async def refresh_depth(self) -> int:
        """The depth for a metrics scrape: one stat of the directory, and a count only when another
        process changed it since this queue last did (an entry created, removed or renamed).

        A change by another process within the file system's mtime granularity of this queue's
        own last change is seen at the next change; ext4 and tmpfs keep nanoseconds.
        """
        if self._depth is not None and self._dir_mtime() == self._seen_mtime:
            return self._depth
        return await self.get_pending_count()

    # -- blocking primitives -------------------------------------------------------------------
    def _write_atomic(self, entry: DeadLetterEntry) -> None:
        final = self._path(entry.id)
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".part", dir=self.storage_path)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(entry.to_json(), handle, default=str)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        dir_fd = os.open(self.storage_path, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _read(self, path: Path) -> DeadLetterEntry | None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return DeadLetterEntry.from_json(raw)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, KeyError) as error:
            # Cannot happen through _write_atomic; report rather than hide a hand-edited file.
            log.error("dlq_entry_unreadable", path=path.name, error=repr(error))
            return None

    def _entry_paths(self) -> builtins.list[Path]:
        return sorted(p for p in self.storage_path.glob(f"*{SUFFIX}") if not p.name.startswith("."))

    # -- public API ----------------------------------------------------------------------------
    async def enqueue(
        self,
        message_data: dict[str, Any],
        error: str | BaseException,
        retry_count: int,
        *,
        error_type: str | None = None,
        origin: str | None = None,
    ) -> str:
        """Store the message once (by message_id) and return its entry id.

        `error` is an exception (its message and class name are kept) or a text, with
        `error_type` naming the kind of failure for a text. `origin` names the server whose
        publish failed (its outbox drains the line).
        """
        entry_id = entry_id_for(message_data)
        text, kind = describe_error(error, error_type)
        entry = DeadLetterEntry(id=entry_id, message=message_data, error=text, error_type=kind,
                                retry_count=retry_count, origin=origin)

        def _store() -> bool:
            self._count_once()
            if self._path(entry_id).exists():
                return False
            self._write_atomic(entry)
            self._move_depth(+1)
            return True

        async with self._lock:
            stored = await asyncio.to_thread(_store)
        if not stored:
            log.info("dlq_enqueue_duplicate", entry_id=entry_id)
            return entry_id
        log.warning("dlq_enqueued", entry_id=entry_id, error=text, error_type=kind, retry_count=retry_count)
        return entry_id

    async def get_pending_count(self) -> int:
        """Count the directory (the exact figure, also after another process changed it)."""
        async with self._lock:
            await asyncio.to_thread(self._move_depth, recount=True)
        return self._depth or 0

    async def list(self, limit: int | None = None) -> builtins.list[DeadLetterEntry]:
        """Entries, oldest first."""

        def _load() -> builtins.list[DeadLetterEntry]:
            entries = [e for p in self._entry_paths() if (e := self._read(p)) is not None]
            entries.sort(key=lambda e: e.created_at)
            return entries[:limit] if limit is not None else entries

        return await asyncio.to_thread(_load)

    async def get(self, entry_id: str) -> DeadLetterEntry | None:
        try:
            path = self._path(entry_id)
        except KeyError:
            return None
        return await asyncio.to_thread(self._read, path)

    async def delete(self, entry_id: str) -> bool:
        try:
            path = self._path(entry_id)
        except KeyError:
            return False

        def _unlink() -> bool:
            self._count_once()
            try:
                path.unlink()
            except FileNotFoundError:
                return False
            self._move_depth(-1)
            return True

        async with self._lock:
            if not await asyncio.to_thread(_unlink):
                return False
        log.info("dlq_deleted", entry_id=entry_id)
        return True

    async def delete_many(self, entry_ids: builtins.list[str]) -> int:
        """Remove several entries in one file-system pass (the outbox, after the stream acked them)."""
        paths = [self._path(entry_id) for entry_id in entry_ids if is_valid_entry_id(entry_id)]
        if not paths:
            return 0

        def _unlink_all() -> int:
            self._count_once()
            removed = 0
            for path in paths:
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                removed += 1
            self._move_depth(-removed)
            return removed

        async with self._lock:
            removed = await asyncio.to_thread(_unlink_all)
        log.info("dlq_deleted_many", count=removed, first=entry_ids[0], last=entry_ids[-1])
        return removed

    async def replay(self, entry_id: str, publish: PublishFn) -> bool:
        """Republish; remove the entry only when `publish` returned (i.e. the server acknowledged).

        A failed publish keeps the entry and records the attempt, so nothing is lost by replaying.
        """
        entry = await self.get(entry_id)
        if entry is None:
            return False
        try:
            await publish(entry.message)
        except Exception as error:
            entry.replay_attempts += 1
            entry.error, entry.error_type = describe_error(error)
            entry.error = f"replay failed: {entry.error}"
            def _rewrite() -> None:
                self._count_once()
                self._write_atomic(entry)
                self._move_depth(0)

            async with self._lock:
                await asyncio.to_thread(_rewrite)
            log.warning("dlq_replay_failed", entry_id=entry_id, error=repr(error))
            return False
        await self.delete(entry_id)
        log.info("dlq_replayed", entry_id=entry_id)
        return True

    async def mark(self, entry_id: str, outbox: str, error: str) -> bool:
        """Record the outbox's verdict on an entry (kept for the operators); False when it is gone."""
        entry = await self.get(entry_id)
        if entry is None:
            return False
        entry.outbox, entry.error = outbox, error

        def _rewrite() -> None:
            self._count_once()
            self._write_atomic(entry)
            self._move_depth(0)

        async with self._lock:
            await asyncio.to_thread(_rewrite)
        return True

    async def replay_all(self, publish: PublishFn) -> tuple[int, int]:
        """Replay every entry; returns (replayed, still_pending)."""
        replayed = 0
        for entry in await self.list():
            replayed += await self.replay(entry.id, publish)
        return replayed, await self.get_pending_count()

    async def purge(self, older_than: timedelta) -> int:
        """Delete entries (and stray temp files) older than `older_than`; returns entries removed."""
        cutoff = time.time() - older_than.total_seconds()

        def _purge() -> int:
            self._count_once()
            removed = 0
            for path in self._entry_paths():
                entry = self._read(path)
                if entry is not None and entry.created_at < cutoff:
                    path.unlink(missing_ok=True)
                    removed += 1
            for tmp in self.storage_path.glob(f"{TMP_PREFIX}*"):
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink(missing_ok=True)
            self._move_depth(-removed)
            return removed

        async with self._lock:
            return await asyncio.to_thread(_purge)

    @staticmethod
    def new_message_id() -> str:
        return uuid.uuid4().hex
