"""The one-world workloads' operations in a run's history, and the small views their checkers share.

The workloads of :mod:`harness.cluster` record into the same history as the chatting players
(:mod:`harness.history`), with operation names of their own so the chat checkers never mistake
them for chat, connects or availability probes. Each value carries ``workload`` (which workload
recorded it); times are the history's.

This module imports only :mod:`harness.history`: the checkers built on it are registered in
:mod:`harness.checker`, which must not be imported back.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

from harness.history import NEMESIS, F, Op

__all__ = ["W", "completions", "nemesis_windows", "p95", "plans", "value"]


class W:
    """Operation names of the one-world workloads.

    plan          lone ok {workload, ...}: what a workload set out to do (rounds, samples, budget),
                  recorded before it starts, so a checker can tell "did less" from "did all"
    session       invoke {workload, round, kind, side, server, session_id}: a player's WebSocket
                  opening on ``server``; ok {..., outcome: "live"} once its room state arrived;
                  fail {..., outcome: "evicted" | "refused" | "closed", close_code, error_type}
                  when the server ended it first; info when nothing came in time
    evicted       lone ok {workload, round, side, server, session_id, notice, close_code}: the
                  session was told ``session_evicted`` (notice) or closed with 4409, first of both
    alive         invoke {workload, round, side, server}; ok {reply}: the socket answered a
                  command after the round settled; fail {reason}: it did not (closed, timed out)
    alias_change  invoke {workload, sample, change: "define" | "remove", name, server} over HTTP;
                  ok when that server acknowledged the change; fail / info otherwise
    alias_use     invoke {workload, sample, name, server}: the alias sent on the player's socket;
                  ok {state: "expanded" | "unknown" | "other", error_type}; info without a reply
    flood         invoke {workload, n, server}; ok: the command ran; fail {error_type}: refused
                  (``rate_limited``); info: no reply
    move          invoke {workload, n, direction, server}; ok {room}: the server confirmed the
                  new room; fail {error_type, retry_after}; info: no reply
    db_rooms      lone ok {workload, rooms: {player: room}}: the players' rooms as the database
                  holds them, read after the run; fail {error} when it could not be read
    workload_error lone fail {workload} by "test": the workload raised (the error says what)
    """

    PLAN = "plan"
    SESSION = "session"
    EVICTED = "evicted"
    ALIVE = "alive"
    ALIAS_CHANGE = "alias_change"
    ALIAS_USE = "alias_use"
    FLOOD = "flood"
    MOVE = "move"
    DB_ROOMS = "db_rooms"
    ERROR = "workload_error"


def value(op: Op) -> Mapping[str, Any]:
    """An operation's value as a mapping (empty when it has none)."""
    return op.value if isinstance(op.value, Mapping) else {}


def plans(history: Iterable[Op], workload: str) -> list[Mapping[str, Any]]:
    """Every plan ``workload`` recorded (one per run of it)."""
    return [value(op) for op in history
            if op.f == W.PLAN and op.type == "ok" and value(op).get("workload") == workload]


def completions(history: Iterable[Op], f: str, key: Sequence[str]) -> list[tuple[Op, Op | None]]:
    """Each invocation of ``f`` paired with its completion, matched by process and the value's
    ``key`` fields; an invocation never completed pairs with None (outcome unknown)."""
    open_ops: dict[Hashable, Op] = {}
    pairs: list[tuple[Op, Op | None]] = []
    for op in history:
        if op.f != f:
            continue
        ident = (op.process, *(str(value(op).get(k)) for k in key))
        if op.type == "invoke":
            if ident in open_ops:
                pairs.append((open_ops.pop(ident), None))
            open_ops[ident] = op
        elif ident in open_ops:
            pairs.append((open_ops.pop(ident), op))
    pairs.extend((op, None) for op in open_ops.values())
    return sorted(pairs, key=lambda pair: pair[0].index)


def nemesis_windows(history: Iterable[Op]) -> list[dict[str, Any]]:
    """Each fault window: ``fault``, ``params``, when its start began and when its heal completed
    (``math.inf`` when it never did)."""
    windows: dict[str, dict[str, Any]] = {}
    for op in history:
        if op.process != NEMESIS or op.f not in (F.START, F.HEAL):
            continue
        data = value(op)
        window = windows.setdefault(str(data.get("window")), {
            "window": data.get("window"), "fault": data.get("fault"), "params": dict(data.get("params") or {}),
            "start": math.inf, "healed": math.inf})
        if op.f == F.START:
            window["start"] = min(window["start"], op.time)
        elif op.type == "ok":
            window["healed"] = op.time
    return sorted(windows.values(), key=lambda w: w["start"])


def p95(values: Sequence[float]) -> float | None:
    """The 95th percentile, linearly interpolated (the catalogue's reading); None for no values."""
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=20, method="inclusive")[-1]
