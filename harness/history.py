"""The operation log of a run, Jepsen style, written to disk as JSON lines as it happens.

Every operation a scenario player or the nemesis performs is recorded as ``invoke`` and then
``ok`` (it happened), ``fail`` (it certainly did not) or ``info`` (outcome unknown: a timeout,
a dropped connection). Observations that have no invocation, such as a chat line arriving at a
player, are recorded as a lone ``ok``. Times are monotonic seconds since the history began, so
they are comparable within a run and immune to wall-clock jumps.

The file is flushed after every line: a run that crashes still leaves a checkable history,
and ``harness analyze`` re-checks it without running anything.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal, cast

__all__ = [
    "NEMESIS",
    "TOKEN_RE",
    "F",
    "History",
    "HistoryMeta",
    "Op",
    "OpType",
    "chat_token",
    "dlq_entry_body",
    "dlq_entry_token",
    "load_history",
    "message_token",
    "write_history",
]

OpType = Literal["invoke", "ok", "fail", "info"]
OP_TYPES: tuple[OpType, ...] = ("invoke", "ok", "fail", "info")
NEMESIS = "nemesis"
"""The process name of fault operations."""



class F:
    """The operation vocabulary shared by the players, the nemesis and the checkers.

    say      invoke {token, seq, room}; ok = the server accepted it; fail = refused, with
             {queued, dlq_id} when the server kept the line in its DLQ; info = no reply
    recv     lone ok at the receiving player {token, sender, seq}
    connect  invoke/ok {room, server} when a player's session on game server ``server`` is live;
             fail / info otherwise
    disconnect lone info {reason} when a player's connection drops or is closed
    probe    invoke/ok/fail/info {kind}: health probes and non-chat commands (availability)
    steady   process "probe": ok {phase, fault, probes} when the steady state holds, fail otherwise
    start / heal  process "nemesis": {fault, window, params}
    drain    lone ok by "test": the workload is over and in-flight messages have had time to land
    metrics  lone ok by "metrics": {server, connection_state, breaker_state, reconnects, dlq_depth,
             dead_lettered}, one sample of a server's GET /metrics (link FSM and breaker over time)
    replay   process "admin": invoke {server, round}, ok {server, round, replayed, pending} when
             the DLQ was replayed through the admin API after the drain (round 1), and replayed
             again once that settled (round 2, which must deliver nothing new); fail with the
             HTTP error otherwise
    dlq      lone ok by "admin": {phase, entries}, every server's DLQ entries as they were after
             replay round ``phase`` ("after_replay", "after_second_replay")
    alerts   lone ok by "prometheus": {phase: "start", targets, for_s, range_s, ...} when a
             Prometheus began watching the run, {phase: "run", firing, pending} (rows {alert,
             server}) each time its alerts changed, {phase: "end", errors, scrapes} at the end
    """

    SAY = "say"
    RECV = "recv"
    CONNECT = "connect"
    DISCONNECT = "disconnect"
    PROBE = "probe"
    STEADY = "steady"
    START = "start"
    HEAL = "heal"
    DRAIN = "drain"
    METRICS = "metrics"
    REPLAY = "replay"
    DLQ = "dlq"
    ALERTS = "alerts"


TOKEN_RE = re.compile(r"\bmsg_([A-Za-z0-9]+)_(\d+)\b")
"""Chat lines carry a token that survives the server's content validation (letters, digits, _)."""


def chat_token(data: Any) -> str | None:
    """The token a chat event or a DLQ body carries, matched on its fields, never inside free text.

    The content must be exactly one token, and a sender name, when the body has one, must be the
    token's sender: "see msg_alice_1" said by bob is not alice's line.
    """
    if not isinstance(data, Mapping):
        return None
    content = data.get("content")
    if not isinstance(content, str):
        return None
    match = TOKEN_RE.fullmatch(content.strip())
    if match is None:
        return None
    sender = data.get("sender_name")
    if sender is not None and str(sender).lower() != match.group(1).lower():
        return None
    return match.group(0)


DLQ_BODY_KEYS = ("message", "message_data")
"""Where a DLQ entry file keeps the chat body: ``message`` now, ``message_data`` in older files."""


def dlq_entry_body(entry: Any) -> Mapping[str, Any] | None:
    """The chat body a DLQ entry holds, in either entry shape; None for anything else."""
    if not isinstance(entry, Mapping):
        return None
    for key in DLQ_BODY_KEYS:
        body = entry.get(key)
        if isinstance(body, Mapping):
            return body
    return None


def dlq_entry_token(entry: Any) -> str | None:
    """The token of a DLQ entry's message body; None for any other shape."""
    return chat_token(dlq_entry_body(entry))


def message_token(sender: str, seq: int) -> str:
    """The unique token a player puts in its ``seq``-th chat line."""
    if not sender.isalnum():
        raise ValueError(f"player names in scenarios are alphanumeric, got {sender!r}")
    return f"msg_{sender}_{seq}"


_META_KEY = "history"
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Op:
    """One history entry. ``value`` is JSON data; ``error`` says why a fail or info happened."""

    index: int
    type: OpType
    process: str
    f: str
    value: Any
    time: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "index": self.index,
            "type": self.type,
            "process": self.process,
            "f": self.f,
            "value": self.value,
            "time": self.time,
        }
        if self.error is not None:
            data["error"] = self.error
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Op:
        op_type = data["type"]
        if op_type not in OP_TYPES:
            raise ValueError(f"unknown op type {op_type!r}")
        return cls(
            index=int(data["index"]),
            type=cast(OpType, op_type),
            process=str(data["process"]),
            f=str(data["f"]),
            value=data.get("value"),
            time=float(data["time"]),
            error=data.get("error"),
        )


@dataclass(frozen=True, slots=True)
class HistoryMeta:
    """The first line of a history file: which test produced it and how to read it."""

    test: Mapping[str, Any]
    started: datetime
    version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {_META_KEY: {"version": self.version, "started": self.started.isoformat(), "test": self.test}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HistoryMeta:
        body = data[_META_KEY]
        return cls(test=dict(body.get("test", {})), started=datetime.fromisoformat(body["started"]),
                   version=int(body.get("version", FORMAT_VERSION)))


@dataclass
class History:
    """A thread-safe recorder that appends each operation to ``path`` before returning it.

    Players run in an event loop and faults in worker threads, hence the lock. ``clock`` is
    injectable so checker tests can build histories with exact times.
    """

    path: Path
    test: Mapping[str, Any] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    _ops: list[Op] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _origin: float = field(default=0.0, init=False, repr=False)
    _handle: IO[str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._origin = self.clock()
        self._handle = self.path.open("w", encoding="utf-8")
        meta = HistoryMeta(test=dict(self.test), started=datetime.now(UTC))
        self._write_line(meta.to_dict())

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    @property
    def ops(self) -> tuple[Op, ...]:
        with self._lock:
            return tuple(self._ops)

    def now(self) -> float:
        """Seconds since the history began, on the history's clock."""
        return self.clock() - self._origin

    def _write_line(self, data: Mapping[str, Any]) -> None:
        if self._handle is None:
            raise RuntimeError(f"history {self.path} is closed")
        self._handle.write(json.dumps(data, separators=(",", ":"), default=str) + "\n")
        self._handle.flush()

    def record(self, op_type: OpType, process: str, f: str, value: Any = None,
               error: str | None = None) -> Op:
        with self._lock:
            op = Op(len(self._ops), op_type, process, f, value, self.now(), error)
            self._write_line(op.to_dict())
            self._ops.append(op)
            return op

    def invoke(self, process: str, f: str, value: Any = None) -> Op:
        return self.record("invoke", process, f, value)

    def ok(self, invocation: Op, value: Any = None) -> Op:
        return self.record("ok", invocation.process, invocation.f,
                           invocation.value if value is None else value)

    def fail(self, invocation: Op, error: str, value: Any = None) -> Op:
        return self.record("fail", invocation.process, invocation.f,
                           invocation.value if value is None else value, error)

    def info(self, invocation: Op, error: str, value: Any = None) -> Op:
        return self.record("info", invocation.process, invocation.f,
                           invocation.value if value is None else value, error)

    def observe(self, process: str, f: str, value: Any = None) -> Op:
        """A completed observation with no invocation (a chat line arriving at a player)."""
        return self.record("ok", process, f, value)


def write_history(path: Path, ops: Iterable[Op], test: Mapping[str, Any] | None = None,
                  started: datetime | None = None) -> Path:
    """Write a complete history at once (synthetic histories in tests, re-exported runs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = HistoryMeta(test=dict(test or {}), started=started or datetime.now(UTC))
    with path.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(meta.to_dict()) + "\n")
        for op in ops:
            handle.write(json.dumps(op.to_dict(), separators=(",", ":"), default=str) + "\n")
    return path


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def load_history(path: Path) -> tuple[HistoryMeta, list[Op]]:
    """Read a history file back. A torn last line (the run was killed mid-write) is dropped."""
    meta: HistoryMeta | None = None
    ops: list[Op] = []
    lines = list(_lines(path))
    for position, (number, line) in enumerate(lines):
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            if position == len(lines) - 1:
                break
            raise ValueError(f"{path}:{number}: not JSON ({exc})") from exc
        if meta is None:
            if _META_KEY not in data:
                raise ValueError(f"{path}:{number}: missing history header")
            meta = HistoryMeta.from_dict(data)
            continue
        try:
            ops.append(Op.from_dict(data))
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: bad operation ({exc})") from exc
    if meta is None:
        raise ValueError(f"{path}: empty history")
    return meta, ops
