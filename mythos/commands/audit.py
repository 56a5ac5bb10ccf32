"""The security audit log: one JSON object per line, in daily files, safe under concurrent writers.

Where lines go: ``log_file`` is either a directory (an existing one, or a path without a suffix),
and each day's lines go to ``<dir>/audit-YYYY-MM-DD.jsonl``; or a file path such as
``logs/commands.log``, and each day's lines go beside it as ``logs/commands-YYYY-MM-DD.log``.
Days are UTC.

Why lines are never torn: each line is encoded first and written with a single ``os.write`` on a
descriptor opened with ``O_APPEND``, so the kernel positions and writes it as one unit, even
with several threads or processes appending to the same file. Nothing is buffered in Python,
so a line is in the file as soon as ``log_command`` returns (``fsync=True`` also forces it to disk).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mythos.observability.logging import get_logger

__all__ = ["MAX_FIELD_LENGTH", "AuditLogger", "WallClock"]

log = get_logger(__name__)

WallClock = Callable[[], datetime]
MAX_FIELD_LENGTH = 10_000
"""Longer commands are cut in the log (with a marker) so one line stays one write of bounded size."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _clip(text: str) -> str:
    if len(text) <= MAX_FIELD_LENGTH:
        return text
    return text[:MAX_FIELD_LENGTH] + f"...[{len(text) - MAX_FIELD_LENGTH} more]"


class AuditLogger:
    """Appends audit records; cheap enough (one small syscall) to call from the event loop."""

    def __init__(self, log_file: str | os.PathLike[str], *, clock: WallClock = _utcnow, fsync: bool = False) -> None:
        path = Path(log_file)
        if path.is_dir() or not path.suffix:
            self._dir, self._stem, self._suffix = path, "audit", ".jsonl"
        else:
            self._dir, self._stem, self._suffix = path.parent, path.stem, path.suffix
        self._clock = clock
        self._fsync = fsync
        self._lock = threading.Lock()
        self._day: str | None = None
        self._fd: int | None = None

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
        """Append one record; returns False (and logs why) when the write failed."""
        moment = self._clock().astimezone(UTC)
        record = {
            "timestamp": moment.isoformat(),
            "player": player_name,
            "command": _clip(command),
            "success": bool(success),
            "ip_address": ip_address,
            "session_id": session_id,
            "metadata": dict(metadata) if metadata else {},
        }
        # ensure_ascii keeps every control character escaped: a record is exactly one line.
        line = (json.dumps(record, ensure_ascii=True, default=str, separators=(",", ":")) + "\n").encode("ascii")
        try:
            self._append(moment, line)
        except OSError as exc:
            log.error("audit_write_failed", error=str(exc), player=player_name)
            return False
        return True

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

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
                self._day = None

    def _append(self, moment: datetime, line: bytes) -> None:
        day = moment.strftime("%Y-%m-%d")
        with self._lock:
            if self._fd is None or day != self._day:
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
                self._dir.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path_for(moment), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
                self._day = day
            written = os.write(self._fd, line)
            if written != len(line):  # only on a full disk or a signal; finish rather than tear
                os.write(self._fd, line[written:])
            if self._fsync:
                os.fsync(self._fd)
