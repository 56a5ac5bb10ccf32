"""Dead-letter queue: one JSON file per failed message, written atomically.

Write path: temporary file in the same directory, fsync, rename over the final name, fsync the
directory. A reader therefore sees either no entry or a whole one; a crash mid-write leaves at
most a `.tmp-*` file, which listing ignores and `purge` sweeps up. The entry id is derived from
the message_id, so enqueueing the same message twice leaves one entry.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mythos.observability.logging import get_logger

__all__ = ["DeadLetterEntry", "DeadLetterQueue", "entry_id_for"]

log = get_logger(__name__)

PublishFn = Callable[[dict[str, Any]], Awaitable[Any]]
SUFFIX = ".json"
TMP_PREFIX = ".tmp-"


def entry_id_for(message_data: dict[str, Any]) -> str:
    """Stable id: the message_id when present (idempotent), else a hash of the body."""
    message_id = message_data.get("message_id")
    if isinstance(message_id, str) and message_id and all(c.isalnum() or c in "-_" for c in message_id):
        return message_id[:128]
    body = json.dumps(message_data, sort_keys=True, default=str).encode()
    return "h-" + hashlib.sha256(body).hexdigest()[:32]


@dataclass(slots=True)
class DeadLetterEntry:
    id: str
    message_data: dict[str, Any]
    error: str
    retry_count: int
    created_at: float = field(default_factory=time.time)
    replay_attempts: int = 0

    @property
    def created_iso(self) -> str:
        return datetime.fromtimestamp(self.created_at, UTC).isoformat()


class DeadLetterQueue:
    """Directory-backed DLQ; blocking file work runs in a thread so the event loop keeps serving."""

    def __init__(self, storage_path: str | os.PathLike[str]) -> None:
        self.storage_path = Path(storage_path)
        self.storage_path.mkdir(parents=True, exist_ok=True)
        self._lock = asyncio.Lock()

    def _path(self, entry_id: str) -> Path:
        if not entry_id or "/" in entry_id or entry_id.startswith("."):
            raise KeyError(entry_id)
        return self.storage_path / f"{entry_id}{SUFFIX}"

    # -- blocking primitives -------------------------------------------------------------------
    def _write_atomic(self, entry: DeadLetterEntry) -> None:
        final = self._path(entry.id)
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".part", dir=self.storage_path)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(asdict(entry), handle, default=str)
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
            return DeadLetterEntry(**raw)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as error:
            # Cannot happen through _write_atomic; report rather than hide a hand-edited file.
            log.error("dlq_entry_unreadable", path=path.name, error=repr(error))
            return None

    def _entry_paths(self) -> builtins.list[Path]:
        return sorted(p for p in self.storage_path.glob(f"*{SUFFIX}") if not p.name.startswith("."))

    # -- public API ----------------------------------------------------------------------------
    async def enqueue(self, message_data: dict[str, Any], error: str | BaseException, retry_count: int) -> str:
        """Store the message once (by message_id) and return its entry id."""
        entry_id = entry_id_for(message_data)
        async with self._lock:
            if self._path(entry_id).exists():
                log.info("dlq_enqueue_duplicate", entry_id=entry_id)
                return entry_id
            entry = DeadLetterEntry(
                id=entry_id,
                message_data=message_data,
                error=error if isinstance(error, str) else repr(error),
                retry_count=retry_count,
            )
            await asyncio.to_thread(self._write_atomic, entry)
        log.warning("dlq_enqueued", entry_id=entry_id, error=entry.error, retry_count=retry_count)
        return entry_id

    async def get_pending_count(self) -> int:
        return len(await asyncio.to_thread(self._entry_paths))

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
        async with self._lock:
            try:
                await asyncio.to_thread(path.unlink)
            except FileNotFoundError:
                return False
        log.info("dlq_deleted", entry_id=entry_id)
        return True

    async def replay(self, entry_id: str, publish: PublishFn) -> bool:
        """Republish; remove the entry only when `publish` returned (i.e. the server acknowledged).

        A failed publish keeps the entry and records the attempt, so nothing is lost by replaying.
        """
        entry = await self.get(entry_id)
        if entry is None:
            return False
        try:
            await publish(entry.message_data)
        except Exception as error:
            entry.replay_attempts += 1
            entry.error = f"replay failed: {error!r}"
            async with self._lock:
                await asyncio.to_thread(self._write_atomic, entry)
            log.warning("dlq_replay_failed", entry_id=entry_id, error=repr(error))
            return False
        await self.delete(entry_id)
        log.info("dlq_replayed", entry_id=entry_id)
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
            removed = 0
            for path in self._entry_paths():
                entry = self._read(path)
                if entry is not None and entry.created_at < cutoff:
                    path.unlink(missing_ok=True)
                    removed += 1
            for tmp in self.storage_path.glob(f"{TMP_PREFIX}*"):
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink(missing_ok=True)
            return removed

        async with self._lock:
            return await asyncio.to_thread(_purge)

    @staticmethod
    def new_message_id() -> str:
        return uuid.uuid4().hex
