"""What the DLQ's operators share: where it lives, how an entry is shown, how durations are read,
and how an admin action is audited.

The server (ReliableChat via build_services), the admin HTTP API and the `mythos dlq` CLI all
locate the queue through `dlq_dir`, so they always look at the same directory, and both admin
surfaces write one audit line per replay, delete or purge through `audit_dlq_action`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from mythos.config import AppConfig
from mythos.realtime.dead_letter_queue import DeadLetterEntry

__all__ = [
    "AUDIT_EVENT",
    "SUBJECT_KEY",
    "AuditSink",
    "audit_dlq_action",
    "dlq_dir",
    "entry_view",
    "outbox_state",
    "parse_duration",
    "split_subject",
]

SUBJECT_KEY = "_subject"
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*")
AUDIT_EVENT = "dlq_admin"
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def dlq_dir(config: AppConfig) -> Path:
    """The dead-letter directory of this deployment: <DATA_DIR>/dlq."""
    return Path(config.server.data_dir) / "dlq"


def parse_duration(text: str) -> timedelta:
    """'90s', '30m', '12h', '7d', '2w' (a bare number is seconds); ValueError otherwise."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 30m, 12h, 7d)")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def split_subject(message_data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(subject, body) of a dead-lettered publish; KeyError when the entry has no subject
    (a malformed incoming message, which cannot be replayed)."""
    subject = message_data.get(SUBJECT_KEY)
    if not isinstance(subject, str) or not subject:
        raise KeyError("entry has no subject: it was not a failed publish and cannot be replayed")
    return subject, {k: v for k, v in message_data.items() if k != SUBJECT_KEY}


def outbox_state(entry: DeadLetterEntry) -> str:
    """What will happen to an entry: "queued" (its server sends it once NATS is back), "expired"
    (too old for that: an operator's to replay or purge) or "operator" (no server drains it)."""
    if entry.outbox is not None:
        return entry.outbox
    return "queued" if entry.origin is not None else "operator"


def entry_view(entry: DeadLetterEntry, *, with_body: bool = True) -> dict[str, Any]:
    """The JSON shape of one entry for the admin API and `mythos dlq show --json`."""
    data = entry.message
    view: dict[str, Any] = {
        "id": entry.id,
        "timestamp": entry.timestamp,
        "error": entry.error,
        "error_type": entry.error_type,
        "retry_count": entry.retry_count,
        "replay_attempts": entry.replay_attempts,
        "subject": data.get(SUBJECT_KEY) or data.get("subject"),
        "channel": data.get("channel"),
        "sender_name": data.get("sender_name"),
        "origin": entry.origin,
        "outbox": outbox_state(entry),
    }
    if with_body:
        view["message"] = data
    return view


class AuditSink(Protocol):
    """The audit log's one write method (mythos.commands.audit.AuditLogger)."""

    def log_command(
        self,
        player_name: str,
        command: str,
        success: bool,
        ip_address: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Any: ...


def audit_dlq_action(
    audit: AuditSink | None,
    *,
    actor: str,
    source: str,
    action: str,
    ids: Sequence[str],
    success: bool,
    result: Mapping[str, Any],
    ip_address: str | None = None,
) -> None:
    """One audit line for a DLQ admin action: who (`actor`, via `source` http or cli), what
    (`action`: replay, replay_all, delete, purge), which ids, and the result."""
    if audit is None:
        return
    command = " ".join(["dlq", action, *ids[:1]]) + (f" (+{len(ids) - 1})" if len(ids) > 1 else "")
    metadata = {
        "event": AUDIT_EVENT,
        "source": source,
        "action": action,
        "ids": list(ids),
        "id_count": len(ids),
        "result": dict(result),
    }
    audit.log_command(actor, command, success, ip_address, metadata)
