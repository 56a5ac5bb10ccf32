"""The security audit log: one JSON object per line, bounded in size, safe under concurrent writers.

Where lines go: ``log_file`` is either a directory (an existing one, or a path without a suffix),
and each day's lines go to ``<dir>/audit-YYYY-MM-DD.jsonl``; or a file path such as
``logs/commands.log``, and each day's lines go beside it as ``logs/commands-YYYY-MM-DD.log``.
Days are UTC.

Why the log stays small under abuse (docs/audit-log.md gives the figures):

* A command is stored as a short prefix (64 characters, at most 128 bytes once escaped), its
  length and a truncated SHA-256, never whole. Every other text field (player, session id,
  metadata strings and lists) is clipped too, so no record exceeds about 1.5 KB.
* Refusals are collapsed per player: in each window (``collapse_window`` seconds from the
  player's first refusal) the first ``refusal_burst`` refusals are written in full, the rest
  only counted. When the window ends one ``refusals_collapsed`` line carries the exact count,
  per error type, with the first and last time and the last refused command's prefix and hash.
  Held counts are written when their window ends (a background flusher checks a few times per
  window), before any newer line of that player, and on ``close()``: nothing is lost.
* The files rotate by size: past ``max_bytes`` the current file becomes ``<file>.1`` (older ones
  shift up), and only the newest ``backup_count`` + 1 audit files are kept, across days. The
  total is therefore at most about ``(backup_count + 1) * max_bytes``.

Why lines are never torn: each line is encoded first and written with a single ``os.write`` on a
descriptor opened with ``O_APPEND``, so the kernel positions and writes it as one unit, even
with several threads or processes appending to the same file. Nothing is buffered in Python
except the counts of collapsed refusals. A process that finds its file rotated by another
(the inode behind the path changed) reopens the path instead of rotating again.

Write failures never raise: ``log_command`` returns False, ``write_errors`` counts them,
``last_error`` says why and ``healthy`` is False until a write succeeds again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from mythos.observability.logging import get_logger

__all__ = [
    "COMMAND_PREFIX_CHARS",
    "DEFAULT_BACKUP_COUNT",
    "DEFAULT_COLLAPSE_WINDOW",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_REFUSAL_BURST",
    "AuditLogger",
    "AuditSettings",
    "WallClock",
    "command_digest",
]

log = get_logger(__name__)

WallClock = Callable[[], datetime]

COMMAND_PREFIX_CHARS = 64
"""Characters of a command kept in the log; the length and the hash identify the rest."""
_PREFIX_BYTES = 128  # the prefix once JSON-escaped: 64 astral characters would take 768 bytes
_FIELD_CHARS = 64
_FIELD_BYTES = 128
_LIST_ITEMS = 8
_DICT_KEYS = 16
_DEPTH = 3
_HASH_HEX = 16  # 64 bits: enough to tell lines apart in forensics, not a security boundary
_MAX_WINDOWS = 10_000  # players with an open collapse window (login failures name any account)

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUP_COUNT = 20
DEFAULT_COLLAPSE_WINDOW = 60.0
DEFAULT_REFUSAL_BURST = 5


class AuditSettings(Protocol):
    """The fields of ``config.security`` that shape the audit log."""

    @property
    def audit_max_bytes(self) -> int: ...
    @property
    def audit_backup_count(self) -> int: ...
    @property
    def audit_collapse_window_seconds(self) -> float: ...
    @property
    def audit_refusal_burst(self) -> int: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


def command_digest(command: str) -> str:
    """The truncated SHA-256 the log stores for a command (UTF-8; lone surrogates kept as is)."""
    return hashlib.sha256(command.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_HEX]


def _prefix(text: str, chars: int, max_bytes: int) -> tuple[str, bool]:
    """At most ``chars`` characters of ``text`` whose escaped JSON form fits ``max_bytes``."""
    head = text[:chars]
    if head.isascii() and len(head) <= max_bytes // 2:  # escapes at most double ASCII
        return head, len(head) < len(text)
    out, used = [], 0
    for ch in head:
        cost = len(json.dumps(ch)) - 2
        if used + cost > max_bytes:
            break
        out.append(ch)
        used += cost
    kept = "".join(out)
    return kept, len(kept) < len(text)


def _clip(text: str) -> str:
    kept, clipped = _prefix(text, _FIELD_CHARS, _FIELD_BYTES)
    return kept + "..." if clipped else kept


def _bounded(value: Any, depth: int = 0) -> Any:
    """``value`` with every string clipped and every container shortened: bounded JSON."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _clip(value)
    if depth >= _DEPTH:
        return _clip(str(value))
    if isinstance(value, Mapping):
        items = list(value.items())
        out = {_clip(str(k)): _bounded(v, depth + 1) for k, v in items[:_DICT_KEYS]}
        if len(items) > _DICT_KEYS:
            out["_more_keys"] = len(items) - _DICT_KEYS
        return out
    if isinstance(value, list | tuple | set | frozenset):
        seq = list(value)
        bounded = [_bounded(v, depth + 1) for v in seq[:_LIST_ITEMS]]
        if len(seq) > _LIST_ITEMS:
            bounded.append(f"...[{len(seq) - _LIST_ITEMS} more]")
        return bounded
    return _clip(str(value))


def _command_fields(command: str) -> dict[str, Any]:
    prefix, _ = _prefix(command, COMMAND_PREFIX_CHARS, _PREFIX_BYTES)
    return {"command": prefix, "command_length": len(command), "command_sha256": command_digest(command)}


@dataclass
class _Window:
    """One player's refusals since ``started``: how many were written, and the held rest."""

    started: datetime
    written: int = 0
    held: int = 0
    first_held: datetime | None = None
    last_held: datetime | None = None
    error_types: Counter[str] = field(default_factory=Counter)
    last: dict[str, Any] = field(default_factory=dict)


class AuditLogger:
    """Appends audit records; cheap enough (one small syscall) to call from the event loop."""

    def __init__(
        self,
        log_file: str | os.PathLike[str],
        *,
        clock: WallClock = _utcnow,
        fsync: bool = False,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
        backup_count: int = DEFAULT_BACKUP_COUNT,
        collapse_window: float = DEFAULT_COLLAPSE_WINDOW,
        refusal_burst: int = DEFAULT_REFUSAL_BURST,
        autoflush: bool = True,
    ) -> None:
        """``max_bytes=None`` never rotates; ``collapse_window=0`` writes every refusal in full;
        ``autoflush=False`` leaves ending windows to ``flush_expired`` (tests with a fake clock)."""
        path = Path(log_file)
        if path.is_dir() or not path.suffix:
            self._dir, self._stem, self._suffix = path, "audit", ".jsonl"
        else:
            self._dir, self._stem, self._suffix = path.parent, path.stem, path.suffix
        if backup_count < 0 or refusal_burst < 1 or collapse_window < 0:
            raise ValueError("backup_count >= 0, refusal_burst >= 1 and collapse_window >= 0 are required")
        self._clock = clock
        self._fsync = fsync
        self._max_bytes = max_bytes
        self._backup_count = backup_count
        self._window = timedelta(seconds=collapse_window)
        self._burst = refusal_burst
        self._autoflush = autoflush
        self._lock = threading.RLock()
        self._day: str | None = None
        self._fd: int | None = None
        self._windows: dict[str, _Window] = {}
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()
        self.write_errors = 0
        self.last_error: str | None = None
        self._healthy = True

    @classmethod
    def from_settings(cls, log_file: str | os.PathLike[str], settings: AuditSettings) -> AuditLogger:
        return cls(
            log_file,
            max_bytes=settings.audit_max_bytes,
            backup_count=settings.audit_backup_count,
            collapse_window=settings.audit_collapse_window_seconds,
            refusal_burst=settings.audit_refusal_burst,
        )

    # -- health ----------------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """False from a failed write until the next successful one."""
        return self._healthy

    def status(self) -> dict[str, Any]:
        """For health and metrics: ``{"healthy", "write_errors", "last_error"}``."""
        return {"healthy": self._healthy, "write_errors": self.write_errors, "last_error": self.last_error}

    # -- writing ---------------------------------------------------------------------------------

    def path_for(self, moment: datetime) -> Path:
        """The file that holds the lines written at ``moment``."""
        day = moment.astimezone(UTC).strftime("%Y-%m-%d")
        return self._dir / f"{self._stem}-{day}{self._suffix}"

    def log_command(
        self,
        player_name: str,
        command: str,
        success: bool,
        ip_address: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        session_id: str | None = None,
    ) -> bool:
        """Append one record (or count it, for a refusal past the burst of its window).

        Returns False (and logs why) when a write failed.
        """
        moment = self._clock().astimezone(UTC)
        player = _clip(player_name)
        record = {
            "timestamp": moment.isoformat(),
            "player": player,
            **_command_fields(command),
            "success": bool(success),
            "ip_address": _clip(ip_address) if ip_address is not None else None,
            "session_id": _clip(session_id) if session_id is not None else None,
            "metadata": _bounded(dict(metadata)) if metadata else {},
        }
        with self._lock:
            ok = self._flush_expired_locked(moment)
            if success or not self._window:
                return self._write(moment, record) and ok
            window = self._windows.get(player)
            if window is None:
                if len(self._windows) >= _MAX_WINDOWS:
                    ok = self._evict_oldest_locked() and ok
                window = self._windows[player] = _Window(moment)
            if window.written < self._burst:
                window.written += 1
                return self._write(moment, record) and ok
            window.held += 1
            window.first_held = window.first_held or moment
            window.last_held = moment
            window.error_types[str(record["metadata"].get("error_type") or record["metadata"].get("event") or "")] += 1
            window.last = {k: record[k] for k in ("command", "command_length", "command_sha256")}
            window.last.update(ip_address=record["ip_address"], session_id=record["session_id"])
        self._ensure_flusher()
        return ok

    def log_login_failure(
        self,
        player_name: str,
        ip_address: str | None = None,
        *,
        session_id: str | None = None,
        reason: str = "",
    ) -> bool:
        """A failed login, recorded like a refused ``login`` command."""
        return self.log_command(
            player_name,
            "login",
            False,
            ip_address,
            {"event": "login_failed", "reason": reason},
            session_id=session_id,
        )

    def flush_expired(self) -> bool:
        """Write the counts of every collapse window that has ended; False if a write failed."""
        with self._lock:
            return self._flush_expired_locked(self._clock().astimezone(UTC))

    def flush(self) -> bool:
        """Write every held count now, ended window or not (shutdown)."""
        with self._lock:
            ok = True
            for player in list(self._windows):
                ok = self._flush_window_locked(player) and ok
            return ok

    def close(self) -> None:
        """Flush held counts, stop the flusher and close the file (idempotent; logging may resume)."""
        self._stop.set()
        flusher = self._flusher
        if flusher is not None and flusher is not threading.current_thread():
            flusher.join(timeout=5)
        with self._lock:
            self._flusher = None
            self._stop = threading.Event()
            self.flush()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
                self._day = None

    # -- collapse windows --------------------------------------------------------------------------

    def _flush_expired_locked(self, now: datetime) -> bool:
        ok = True
        for player, window in list(self._windows.items()):
            if now - window.started >= self._window:
                ok = self._flush_window_locked(player) and ok
        return ok

    def _evict_oldest_locked(self) -> bool:
        oldest = min(self._windows, key=lambda p: self._windows[p].started)
        return self._flush_window_locked(oldest)

    def _flush_window_locked(self, player: str) -> bool:
        window = self._windows.pop(player)
        if not window.held:
            return True
        assert window.first_held is not None and window.last_held is not None
        last = window.last
        record = {
            "timestamp": window.last_held.isoformat(),
            "player": player,
            "command": last["command"],
            "command_length": last["command_length"],
            "command_sha256": last["command_sha256"],
            "success": False,
            "ip_address": last["ip_address"],
            "session_id": last["session_id"],
            "metadata": {
                "event": "refusals_collapsed",
                "count": window.held,
                "error_types": _bounded(dict(window.error_types)),
                "first": window.first_held.isoformat(),
                "last": window.last_held.isoformat(),
                "window_seconds": self._window.total_seconds(),
            },
        }
        return self._write(window.last_held, record)

    def _ensure_flusher(self) -> None:
        if not self._autoflush or self._window.total_seconds() <= 0:
            return
        with self._lock:
            if self._flusher is not None and self._flusher.is_alive():
                return
            interval = max(0.05, min(self._window.total_seconds() / 4, 5.0))
            stop = self._stop
            self._flusher = threading.Thread(target=self._flush_loop, args=(stop, interval), daemon=True)
            self._flusher.name = "audit-flusher"
            self._flusher.start()

    def _flush_loop(self, stop: threading.Event, interval: float) -> None:
        while not stop.wait(interval):
            self.flush_expired()
            with self._lock:
                if not self._windows:
                    self._flusher = None
                    return

    # -- the file ----------------------------------------------------------------------------------

    def _write(self, moment: datetime, record: Mapping[str, Any]) -> bool:
        # ensure_ascii keeps every control character escaped: a record is exactly one line.
        line = (json.dumps(record, ensure_ascii=True, default=str, separators=(",", ":")) + "\n").encode("ascii")
        try:
            self._append(moment, line)
        except OSError as exc:
            self.write_errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._healthy = False
            log.error("audit_write_failed", error=self.last_error, write_errors=self.write_errors)
            return False
        self._healthy = True
        return True

    def _append(self, moment: datetime, line: bytes) -> None:
        day = moment.strftime("%Y-%m-%d")
        with self._lock:
            if self._fd is None or day != self._day:
                self._open(moment)
                self._prune()
            elif self._max_bytes is not None:
                size = os.fstat(self._fd).st_size
                if size and size + len(line) > self._max_bytes:
                    self._rotate(moment)
            assert self._fd is not None
            written = os.write(self._fd, line)
            if written != len(line):  # only on a full disk or a signal; finish rather than tear
                os.write(self._fd, line[written:])
            if self._fsync:
                os.fsync(self._fd)

    def _open(self, moment: datetime) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._dir.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path_for(moment), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._day = moment.strftime("%Y-%m-%d")

    def _rotate(self, moment: datetime) -> None:
        assert self._fd is not None
        path = self.path_for(moment)
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(self._fd).st_ino:  # not yet rotated by another writer
            if self._backup_count == 0:
                path.unlink()
            else:
                for index in range(self._backup_count - 1, 0, -1):
                    older = path.with_name(f"{path.name}.{index}")
                    if older.exists():
                        older.replace(path.with_name(f"{path.name}.{index + 1}"))
                path.replace(path.with_name(f"{path.name}.1"))
        self._open(moment)
        self._prune()

    def _prune(self) -> None:
        """Keep the newest ``backup_count`` + 1 audit files of this log, whatever their day.

        Newest by name, not by time stamp: a later day first, then the live file, then ``.1``, ``.2``.
        """
        pattern = re.compile(rf"{re.escape(self._stem)}-(\d{{4}}-\d{{2}}-\d{{2}}){re.escape(self._suffix)}(?:\.(\d+))?")
        files = []
        for candidate in self._dir.glob(f"{self._stem}-*{self._suffix}*"):
            match = pattern.fullmatch(candidate.name)
            if match is not None:
                files.append((match.group(1), -int(match.group(2) or 0), candidate))
        files.sort(reverse=True)
        for _, _, stale in files[self._backup_count + 1 :]:
            stale.unlink(missing_ok=True)
