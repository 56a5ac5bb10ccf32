"""Checkers: pure functions of (test, history, DLQ entries) that judge a finished run.

A checker never talks to the system; it reads what the players and the nemesis recorded
(``harness.history``) and what the dead-letter queue held after healing. Each returns a
JSON-able dict with ``valid`` = True, False or "unknown" plus its figures. Checkers compose by
name (:func:`compose`); one that raises yields ``{"valid": "unknown", "error": ...}`` instead of
taking the others down (:func:`check_safe`).

Delivery semantics: a chat message counts once its sender was told it was sent (``say`` ok).
Its expected recipients are the other players in the room who were connected when it was sent
and stayed connected until the workload drained. Receptions are counted up to the first admin
DLQ replay: a line nobody saw during the run is not delivered because a replay after the drain
brought it (that is ``dlq_replayed``, its own figure). It is then

- **delivered** when every expected recipient saw it before the replay,
- **dead-lettered** when not, but the DLQ holds it,
- **lost** otherwise;

and independently **duplicated** (a recipient saw it twice, replay included) or **reordered** (a
recipient saw it after a later message of the same sender).

A line the server refused because chat was unavailable (``say`` fail with ``chat_unavailable``)
is not in the delivery rate (the sender knows it was not sent) but must be in the DLQ exactly
once, like every acknowledged line that was not delivered: that is ``dlq_accounted``. A queued
line its server's outbox sent after the heal (every expected recipient saw it once before any
admin replay, and the DLQ no longer holds it) is accounted for too: it left the DLQ by delivery.
The ``outbox`` checker judges those lines on their own (``chat_delivered_after_outage``,
``outbox_drain_s``). Every line
is in ``chat_answered_rate`` (did the sender hear back at all) and, when said while a NATS fault
was active, in ``chat_accepted_during_faults`` (ok, or queued in the DLQ with an id).

Tokens are matched on the token field only (:func:`harness.history.chat_token`), never as a
substring of chat text or of a DLQ body.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.alerts import judge_alerts
from harness.cluster.checks import ONE_WORLD_CHECKERS
from harness.history import NEMESIS, F, Op, dlq_entry_token
from harness.kpi import compare, spec_for

__all__ = [
    "CHECKERS",
    "CheckResult",
    "Checker",
    "Message",
    "Validity",
    "check_safe",
    "classify_messages",
    "compose",
    "fault_windows",
    "merge_valid",
    "metrics_series",
    "outbox",
    "outbox_limit",
    "percentile",
    "player_servers",
    "replay_start",
    "run_checks",
]

Validity = bool | Literal["unknown"]
CheckResult = dict[str, Any]
Test = Mapping[str, Any]
DLQEntries = Sequence[Mapping[str, Any]]
Checker = Callable[[Test, Sequence[Op], DLQEntries], CheckResult]

DLQ_ERRORS = ("chat_unavailable",)
"""Refusals after which the server keeps the line in its DLQ (a test may override ``dlq_errors``)."""

MAX_LISTED = 50
"""Evidence lists (lost tokens, ...) are capped so results stay readable."""

NOT_CONNECTED = "not connected"
"""The client's error for a command it could not send (``harness.client``): no line left."""


def merge_valid(values: Sequence[Validity]) -> Validity:
    """Jepsen's rule: any False wins, then any unknown, else True (an empty list is True)."""
    if any(v is False for v in values):
        return False
    if any(v == "unknown" for v in values):
        return "unknown"
    return True


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile ``q`` in [0, 100]; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# ---------------------------------------------------------------- history views


@dataclass
class Message:
    """A chat line as the checker sees it, joined from the sender's and receivers' operations."""

    token: str
    sender: str
    seq: int
    room: str
    invoked: float
    outcome: Literal["ok", "fail", "info"] = "info"
    completed: float | None = None
    error: str | None = None
    queued: bool = False
    """Refused, but the server said it kept the line in its DLQ (with an id) for replay."""
    dlq_expected: bool = False
    expected: set[str] = field(default_factory=set)
    received: dict[str, list[float]] = field(default_factory=dict)
    """Receptions before the first admin DLQ replay, by player: what the run delivered."""
    replayed_to: dict[str, list[float]] = field(default_factory=dict)
    """Receptions from the first admin DLQ replay on, by player."""
    dlq_count: int = 0
    status: str = "unobservable"
    duplicated: bool = False
    reordered_at: set[str] = field(default_factory=set)

    @property
    def missing(self) -> set[str]:
        return self.expected - set(self.received)

    @property
    def answered(self) -> bool:
        """The sender heard back: accepted or refused, not a timeout or a dropped connection."""
        return self.outcome in ("ok", "fail")

    @property
    def accepted(self) -> bool:
        """Sent, or queued in the DLQ with an id: the line is not gone."""
        return self.outcome == "ok" or (self.outcome == "fail" and self.queued)

    @property
    def refused(self) -> bool:
        """Refused and not queued: the sender's line is gone."""
        return self.outcome == "fail" and not self.queued


def _completions(history: Sequence[Op], f: str) -> list[tuple[Op, Op | None]]:
    """Pair each invocation of ``f`` with its completion; unmatched ones complete as unknown."""
    open_ops: dict[tuple[str, str | None], Op] = {}
    pairs: list[tuple[Op, Op | None]] = []
    for op in history:
        if op.f != f:
            continue
        # A completion names its operation by token where it has one: a player may have a second
        # line in flight before the first is answered, so "the process's last invoke" can be wrong.
        key = (op.process, _token_of(op))
        if op.type == "invoke":
            if key in open_ops:  # the same operation invoked again: the old one never completed
                pairs.append((open_ops.pop(key), None))
            open_ops[key] = op
        elif key in open_ops:
            pairs.append((open_ops.pop(key), op))
    pairs.extend((op, None) for op in open_ops.values())
    return sorted(pairs, key=lambda pair: pair[0].index)


def _token_of(op: Op) -> str | None:
    value = op.value
    token = value.get("token") if isinstance(value, Mapping) else None
    return None if token is None else str(token)


def window_end(history: Sequence[Op]) -> float:
    """When the workload drained; the last operation when the run recorded no drain."""
    drains = [op.time for op in history if op.f == F.DRAIN]
    if drains:
        return drains[-1]
    return history[-1].time if history else 0.0


def replay_start(history: Sequence[Op]) -> float:
    """When the first admin DLQ replay began; infinity when the run replayed nothing."""
    return next((op.time for op in history if op.f == F.REPLAY), math.inf)


def player_servers(test: Test, history: Sequence[Op]) -> dict[str, str]:
    """Which game server each player's session was on.

    Read from the ``server`` of its connects, else the test header's ``player_servers``; with a
    single game server in the topology every player is on ``mythos-0``. A player on an unknown
    server is left out (per-server figures then say unknown rather than guess).
    """
    servers: dict[str, str] = {}
    for player, server in dict(test.get("player_servers") or {}).items():
        servers[str(player)] = str(server)
    single = int((test.get("topology") or {}).get("mythos", 1)) <= 1
    for op in history:
        if op.f != F.CONNECT or op.process == NEMESIS:
            continue
        server = (op.value or {}).get("server") if op.type == "ok" else None
        if server:
            servers[op.process] = str(server)
        elif single and op.type == "ok":
            servers.setdefault(op.process, "mythos-0")
    return servers


def connected_intervals(history: Sequence[Op]) -> dict[str, list[tuple[str, float, float]]]:
    """Per player, the (room, from, until) spans its session was live."""
    spans: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
    live: dict[str, tuple[str, float]] = {}
    for op in history:
        if op.f == F.CONNECT and op.type == "ok":
            room = str((op.value or {}).get("room", ""))
            live[op.process] = (room, op.time)
        elif op.f == F.DISCONNECT and op.process in live:
            room, since = live.pop(op.process)
            spans[op.process].append((room, since, op.time))
    for player, (room, since) in live.items():
        spans[player].append((room, since, math.inf))
    return dict(spans)


def dlq_token_counts(dlq: DLQEntries) -> Counter[str]:
    """How many DLQ entries hold each message token, read from the entry's message body only."""
    counts: Counter[str] = Counter()
    for entry in dlq:
        token = dlq_entry_token(entry)
        if token is not None:
            counts[token] += 1
    return counts


def classify_messages(test: Test, history: Sequence[Op], dlq: DLQEntries) -> list[Message]:
    """Join sends, receptions, sessions and the DLQ into one record per message."""
    echo = bool(test.get("echo_to_sender", False))
    dlq_errors = set(test.get("dlq_errors", DLQ_ERRORS))
    end = window_end(history)
    replayed_from = replay_start(history)
    spans = connected_intervals(history)
    dlq_counts = dlq_token_counts(dlq)
    messages: dict[str, Message] = {}
    for invocation, completion in _completions(history, F.SAY):
        value = invocation.value or {}
        token = str(value["token"])
        message = Message(token=token, sender=invocation.process, seq=int(value.get("seq", 0)),
                          room=str(value.get("room", "")), invoked=invocation.time)
        if completion is not None:
            message.outcome = completion.type if completion.type != "invoke" else "info"
            message.completed = completion.time
            message.error = completion.error
            done = completion.value if isinstance(completion.value, Mapping) else {}
            message.queued = message.outcome == "fail" and bool(done.get("queued")) and bool(done.get("dlq_id"))
        messages[token] = message

    last_seen: dict[tuple[str, str], int] = {}
    for op in history:
        if op.f != F.RECV or op.type != "ok":
            continue
        token = str((op.value or {}).get("token", ""))
        seen = messages.get(token)
        if seen is None:
            continue
        if op.time >= replayed_from:
            seen.replayed_to.setdefault(op.process, []).append(op.time)
            continue
        times = seen.received.setdefault(op.process, [])
        times.append(op.time)
        # Order is judged on first receptions of acknowledged lines during the run: repeats are
        # duplicates, and a line replayed from the DLQ later is out of order by design.
        if len(times) == 1 and seen.outcome == "ok":
            key = (op.process, seen.sender)
            if seen.seq < last_seen.get(key, -1):
                seen.reordered_at.add(op.process)
            last_seen[key] = max(seen.seq, last_seen.get(key, -1))

    for message in messages.values():
        message.dlq_count = dlq_counts.get(message.token, 0)
        message.duplicated = any(
            len(message.received.get(player, ())) + len(message.replayed_to.get(player, ())) > 1
            for player in {*message.received, *message.replayed_to})
        if not echo:
            message.received.pop(message.sender, None)
            message.replayed_to.pop(message.sender, None)
        message.expected = {
            player
            for player, player_spans in spans.items()
            if (echo or player != message.sender)
            and any(room == message.room and since <= message.invoked and until >= end
                    for room, since, until in player_spans)
        }
        if message.outcome != "ok" or not message.expected:
            message.status = "unobservable" if message.outcome == "ok" else message.outcome
        elif not message.missing:
            message.status = "delivered"
        elif message.dlq_count:
            message.status = "dead_lettered"
        else:
            message.status = "lost"
        # The server promises a DLQ entry for a line it accepted but could not deliver, and for
        # one it refused because chat was unavailable (the sender is told it was saved).
        message.dlq_expected = message.status in ("dead_lettered", "lost") or (
            message.outcome == "fail" and message.error in dlq_errors)
    return sorted(messages.values(), key=lambda m: m.invoked)


def fault_windows(history: Sequence[Op]) -> list[dict[str, Any]]:
    """Each fault's window: when it was started and when its heal completed (None: never healed)."""
    windows: dict[str, dict[str, Any]] = {}
    for op in history:
        if op.process != NEMESIS or op.f not in (F.START, F.HEAL):
            continue
        value = op.value or {}
        key = str(value.get("window", value.get("fault", "fault")))
        window = windows.setdefault(key, {"window": key, "fault": value.get("fault"),
                                          "params": value.get("params"), "start": None,
                                          "healed": None, "heal_failed": False})
        if op.f == F.START and (op.type == "invoke" or window["start"] is None):
            window["start"] = op.time
        elif op.f == F.HEAL and op.type == "ok":
            window["healed"] = op.time
        elif op.f == F.HEAL and op.type in ("fail", "info"):
            window["heal_failed"] = True
    return sorted(windows.values(), key=lambda w: (w["start"] is None, w["start"] or 0.0))


# ---------------------------------------------------------------- checkers


def _spec_valid(kpi_id: str, value: float | None) -> bool:
    spec = spec_for(kpi_id)
    return compare(value, spec.comparator, spec.threshold)


def delivery(test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
    """message_delivery_rate, message_loss_rate and dlq_accounted, judged against the spec."""
    messages = classify_messages(test, history, dlq)
    statuses = Counter(m.status for m in messages)
    acknowledged = statuses["delivered"] + statuses["dead_lettered"] + statuses["lost"]
    failed = [m for m in messages if m.dlq_expected]
    drained = [m for m in failed if _drained(m)]
    accounted = sum(1 for m in failed if m.dlq_count == 1) + len(drained)
    result: CheckResult = {
        "sent_ok": sum(1 for m in messages if m.outcome == "ok"),
        "sent_fail": statuses["fail"],
        "sent_info": statuses["info"],
        "acknowledged": acknowledged,
        "unobservable": statuses["unobservable"],
        "delivered": statuses["delivered"],
        "dead_lettered": statuses["dead_lettered"],
        "lost": statuses["lost"],
        "message_delivery_rate": statuses["delivered"] / acknowledged if acknowledged else None,
        "message_loss_rate": statuses["lost"] / acknowledged if acknowledged else None,
        "dlq_accounted": accounted / len(failed) if failed else (1.0 if acknowledged else None),
        "dlq_expected": len(failed),
        "dlq_accounted_count": accounted,
        "drained": len(drained),
        "dlq_missing_tokens": sorted(m.token for m in failed if m.dlq_count == 0 and not _drained(m))[:MAX_LISTED],
        "dlq_entries": len(dlq),
        "dlq_repeated": sorted(m.token for m in messages if m.dlq_count > 1)[:MAX_LISTED],
        "delivered_and_dead_lettered": sorted(
            m.token for m in messages if m.status == "delivered" and m.dlq_count)[:MAX_LISTED],
        "failed_but_delivered": sorted(
            m.token for m in messages if m.outcome == "fail" and m.received)[:MAX_LISTED],
        "lost_tokens": sorted(m.token for m in messages if m.status == "lost")[:MAX_LISTED],
        "dead_lettered_tokens": sorted(
            m.token for m in messages if m.status == "dead_lettered")[:MAX_LISTED],
        "reached_only_by_replay": sorted(
            m.token for m in messages
            if m.status in ("dead_lettered", "lost") and m.missing <= set(m.replayed_to))[:MAX_LISTED],
    }
    if not acknowledged:
        result["valid"] = "unknown"
        result["error"] = "no acknowledged message had a recipient who stayed connected"
        return result
    result["valid"] = (
        _spec_valid("message_delivery_rate", result["message_delivery_rate"])
        and _spec_valid("message_loss_rate", result["message_loss_rate"])
        and _spec_valid("dlq_accounted", result["dlq_accounted"])
    )
    return result


def _drained(message: Message) -> bool:
    """A queued line its server sent once NATS was back: gone from the DLQ, and every expected
    recipient saw it exactly once before any admin replay (when nobody stayed connected to be
    expected, some player in the room saw it)."""
    if not message.queued or message.dlq_count != 0:
        return False
    if not message.expected:
        return bool(message.received)
    return not message.missing and all(len(message.received.get(p, ())) == 1 for p in message.expected)


OUTBOX_MAX_AGE_S = 120.0
"""The server's default CHAT_OUTBOX_MAX_AGE; a scenario's ``mythos_env`` may set another."""
OUTBOX_GRACE_S = 2.0
"""A line within this of the limit at the heal may cross it before the drain reaches it (the link
comes back up to a second after the heal): it is judged neither as due nor as stale."""


def outbox_limit(test: Test) -> float:
    """CHAT_OUTBOX_MAX_AGE as the run's game servers had it."""
    env = dict((test.get("topology") or {}).get("mythos_env") or {})
    return float(env.get("CHAT_OUTBOX_MAX_AGE", OUTBOX_MAX_AGE_S))


def outbox(test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
    """chat_delivered_after_outage and outbox_drain_s: did each server send the lines it queued?

    A queued line (refused with a DLQ id) belongs to the first NATS-fault heal at or after it was
    said (the last heal, for a line queued while the link was still coming back). Judged by its
    age at that heal against the run's CHAT_OUTBOX_MAX_AGE:

    - **due** (younger than the limit by more than ``OUTBOX_GRACE_S``): delivered after the outage
      when every expected recipient saw it before any admin replay. ``chat_delivered_after_outage``
      is delivered / due; ``outbox_drain_s`` is, per heal, the time from the heal until the last
      due line reached its last recipient (not measured while a due line is missing);
    - **stale** (older than the limit): the outbox must not send it; it must still be in the DLQ
      for the operators, and no recipient may have seen it before the replay.
    """
    limit = outbox_limit(test)
    heals = sorted(w["healed"] for w in fault_windows(history)
                   if w["healed"] is not None and w["start"] is not None and is_nats_fault(w))
    queued = [m for m in classify_messages(test, history, dlq) if m.outcome == "fail" and m.queued]
    if not queued:
        return {"valid": True, "applicable": False, "limit_s": limit, "queued": 0, "due": 0,
                "chat_delivered_after_outage": None, "outbox_drain_s": None, "windows": []}
    windows: dict[float, dict[str, Any]] = {}
    due: list[Message] = []
    delivered: list[Message] = []
    stale: list[Message] = []
    borderline = unobservable = 0
    for message in queued:
        after = [h for h in heals if h >= message.invoked]
        heal = after[0] if after else (heals[-1] if heals else message.invoked)
        age = max(0.0, heal - message.invoked)
        if age > limit:
            stale.append(message)
            continue
        if age > limit - OUTBOX_GRACE_S:
            borderline += 1
            continue
        if not message.expected:
            unobservable += 1
            continue
        due.append(message)
        window = windows.setdefault(heal, {"healed": heal, "lines": 0, "delivered": 0, "last_s": 0.0})
        window["lines"] += 1
        if not message.missing:
            delivered.append(message)
            window["delivered"] += 1
            landed = max(min(message.received[p]) for p in message.expected)
            window["last_s"] = max(window["last_s"], landed - heal)
    rows = []
    for window in sorted(windows.values(), key=lambda w: w["healed"]):
        complete = window["delivered"] == window["lines"]
        rows.append({**window, "drain_s": window["last_s"] if complete else None})
    rate = len(delivered) / len(due) if due else None
    drain = None if any(r["drain_s"] is None for r in rows) else max((r["drain_s"] for r in rows), default=None)
    stale_sent = sorted(m.token for m in stale if m.received)
    stale_not_kept = sorted(m.token for m in stale if m.dlq_count != 1)
    problems: list[str] = []
    if due and not _spec_valid("chat_delivered_after_outage", rate):
        problems.append(f"{len(due) - len(delivered)} of {len(due)} queued lines younger than the "
                        f"{limit:g} s limit were not delivered after the outage")
    if due and drain is not None and not _spec_valid("outbox_drain_s", drain):
        problems.append(f"the outbox took {drain:.3g} s after a heal to send its lines")
    if stale_sent:
        problems.append(f"{len(stale_sent)} lines older than the limit were sent without an operator")
    if stale_not_kept:
        problems.append(f"{len(stale_not_kept)} lines older than the limit are not in the DLQ once")
    valid: Validity = False if problems else (True if due or stale else "unknown")
    return {"valid": valid, "applicable": True, "limit_s": limit, "problems": problems,
            "queued": len(queued), "due": len(due), "delivered_after_outage": len(delivered),
            "stale": len(stale), "borderline": borderline, "unobservable": unobservable,
            "chat_delivered_after_outage": rate, "outbox_drain_s": drain,
            "outbox_lines": max((r["lines"] for r in rows), default=0), "windows": rows,
            "not_delivered_tokens": sorted(m.token for m in due if m.missing)[:MAX_LISTED],
            "stale_sent": stale_sent[:MAX_LISTED], "stale_not_kept": stale_not_kept[:MAX_LISTED]}


def duplicates(test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
    """Messages a player saw more than once: at-least-once delivery leaking through to players."""
    messages = classify_messages(test, history, dlq)
    extra = sum(max(0, len(m.received.get(p, ())) + len(m.replayed_to.get(p, ())) - 1)
                for m in messages for p in {*m.received, *m.replayed_to})
    tokens = sorted(m.token for m in messages if m.duplicated)
    return {"valid": extra == 0, "duplicates": extra, "duplicated_messages": len(tokens),
            "duplicated_tokens": tokens[:MAX_LISTED]}


def ordering(test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
    """Per-sender order at each recipient: a later line of a sender never arrives before an earlier one."""
    messages = classify_messages(test, history, dlq)
    reordered = sorted(m.token for m in messages if m.reordered_at)
    return {"valid": not reordered, "reordered": len(reordered), "reordered_tokens": reordered[:MAX_LISTED]}


def recovery_servers(window: Mapping[str, Any], servers: Sequence[str]) -> list[str]:
    """The game servers whose chat a fault window cut: its NATS link's, or the server it killed."""
    affected = affected_servers(window, servers)
    service = str((window.get("params") or {}).get("service", ""))
    if not affected and service.startswith("mythos-"):
        affected = [service]
    return affected or list(servers)


def recovery(test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
    """Per affected server, seconds from each heal to the first line one of its players received.

    A reception anywhere else says nothing about the cut server: in a two-server partition the
    healthy server's players keep chatting while the cut one's still hear nothing. So each
    server the fault touched gets its own time, from the players connected to it, and
    nats_recovery_s is the p95 over those (server, window) times. A server none of whose players
    was sent a line after the heal has no time (and is not unrecovered).
    """
    on_server = player_servers(test, history)
    servers = sorted({*on_server.values(), *metrics_series(history)}) or ["mythos-0"]
    receptions: dict[str, list[float]] = defaultdict(list)
    for op in history:
        if op.f == F.RECV and op.type == "ok":
            receptions[op.process].append(op.time)
    sends_ok = [m for m in classify_messages(test, history, dlq) if m.outcome == "ok" and m.expected]
    windows: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for window in fault_windows(history):
        healed = window["healed"]
        per_server = []
        for server in recovery_servers(window, servers):
            players = {p for p, s in on_server.items() if s == server}
            first = min((t for p in players for t in receptions.get(p, ())
                         if healed is not None and t >= healed), default=None)
            expected_after = healed is not None and any(
                m.invoked >= healed and m.expected & players for m in sends_ok)
            row = {"window": window["window"], "fault": window["fault"], "server": server,
                   "players": sorted(players), "recovery_s": None if first is None else first - healed,
                   "expected_delivery_after": expected_after}
            per_server.append(row)
            rows.append(row)
        measured = [r["recovery_s"] for r in per_server if r["recovery_s"] is not None]
        windows.append({**window, "recovery_s": max(measured, default=None),
                        "expected_delivery_after": any(r["expected_delivery_after"] for r in per_server),
                        "servers": per_server})
    times = [r["recovery_s"] for r in rows if r["recovery_s"] is not None]
    unhealed = [w["window"] for w in windows if w["healed"] is None or w["heal_failed"]]
    unrecovered = [f"{r['window']}@{r['server']}" for r in rows
                   if r["recovery_s"] is None and r["expected_delivery_after"]]
    p95 = percentile(times, 95)
    valid: Validity
    if unhealed or unrecovered:
        valid = False
    elif not windows:
        valid = True  # no fault, nothing to recover from (the fault-free baseline)
    elif not times:
        valid = "unknown"
    else:
        valid = _spec_valid("nats_recovery_s", p95)
    return {"valid": valid, "windows": windows, "per_server": rows, "recovery_s": times,
            "nats_recovery_s": p95, "nats_recovery_max_s": max(times, default=None),
            "unhealed": unhealed, "unrecovered": unrecovered}


def is_node_kill(window: Mapping[str, Any]) -> bool:
    """A SIGKILL of one NATS cluster node (the stream's leader, or one named by service)."""
    service = str((window.get("params") or {}).get("service", ""))
    return window.get("fault") == "kill_nats_leader" or (
        window.get("fault") == "kill_nats" and NATS_NODE.fullmatch(service) is not None)


def _started(history: Sequence[Op], window: str) -> tuple[float, Mapping[str, Any]] | None:
    """When a fault's start completed and what the nemesis recorded it did (which node it
    killed); None when its start never completed (it failed: nothing was killed)."""
    for op in history:
        value = op.value or {}
        if op.process == NEMESIS and op.f == F.START and op.type == "ok" and value.get("window") == window:
            return op.time, dict(value.get("effect") or {})
    return None


def failover(test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
    """cluster_failover_s: per game server, seconds from a NATS node's SIGKILL until its chat flows again.

    Flowing again is the first reception, by a player of that server, of a line said by a player
    of that server after the kill (the speaker's own echo counts: it came back through the
    stream): the server's publish and its consumer both work again. Lines said before the kill
    do not count, even when they land after it. Time zero is when the kill's start completed:
    the fault first asks the cluster who leads the stream (hundreds of ms on a busy machine,
    while chat still flows), so its invocation would credit lines said before the SIGKILL; the
    completion is at most the reap of the killed process (ms) after it. Lines count until the
    next kill or the drain. A server whose players said lines after the kill and received none
    of them did not fail over: invalid. The KPI is the p95 over (kill, server).
    """
    kills = []
    for window in fault_windows(history):
        started = _started(history, window["window"]) if is_node_kill(window) else None
        if started is not None:
            kills.append((window["window"], *started))
    if not kills:
        return {"valid": True, "applicable": False, "per_server": [], "cluster_failover_s": None}
    on_server = player_servers(test, history)
    said: dict[str, tuple[float, str]] = {}
    for op in history:
        if op.f == F.SAY and op.type == "invoke" and (token := _token_of(op)) is not None:
            said.setdefault(token, (op.time, op.process))
    received: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for op in history:
        if op.f == F.RECV and op.type == "ok" and (token := _token_of(op)) is not None:
            received[token].append((op.time, op.process))
    starts = sorted(start for _, start, _ in kills)
    end = window_end(history)
    rows: list[dict[str, Any]] = []
    for window_id, start, effect in kills:
        until = min([t for t in starts if t > start] + [end])
        for server in sorted(set(on_server.values())):
            players = {p for p, s in on_server.items() if s == server}
            lines = [token for token, (t, sender) in said.items() if start <= t < until and sender in players]
            seen = [t for token in lines for t, receiver in received.get(token, ()) if receiver in players]
            first = min(seen, default=None)
            rows.append({"window": window_id, "killed": effect.get("killed", effect.get("service")),
                         "server": server, "lines_after_kill": len(lines),
                         "failover_s": None if first is None else round(first - start, 4)})
    times = [r["failover_s"] for r in rows if r["failover_s"] is not None]
    unrecovered = [f"{r['window']}@{r['server']}" for r in rows if r["failover_s"] is None and r["lines_after_kill"]]
    p95 = percentile(times, 95)
    valid: Validity
    if unrecovered:
        valid = False
    elif not times:
        valid = "unknown"
    else:
        valid = _spec_valid("cluster_failover_s", p95)
    return {"valid": valid, "applicable": True, "per_server": rows, "failover_s": times,
            "cluster_failover_s": p95, "cluster_failover_max_s": max(times, default=None),
            "unrecovered": unrecovered}


def acceptance(test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
    """chat_answered_rate over every line said, chat_accepted_during_faults while NATS was faulted.

    A line never put on the wire (the player's connection was already gone) is not "sent" and
    is counted apart as ``unsent``. During a fault, only the lines of players on a server whose
    NATS link the fault touched are counted: the other server's players are not under the fault.
    The DLQ exists so that chat is accepted while NATS is away; a refusal without a DLQ id, or
    no reply at all, is a line the player lost.
    """
    every = classify_messages(test, history, dlq)
    messages = [m for m in every if not _unsent(m)]
    unsent = len(every) - len(messages)
    answered = sum(1 for m in messages if m.answered)
    on_server = player_servers(test, history)
    servers = sorted({*on_server.values(), *metrics_series(history)}) or ["mythos-0"]
    spans = [(w["start"], w["healed"] if w["healed"] is not None else math.inf,
              set(affected_servers(w, servers)), w["window"])
             for w in fault_windows(history) if w["start"] is not None and is_nats_fault(w)]
    during = [m for m in messages
              if any(start <= m.invoked <= until and on_server.get(m.sender, "?") in touched
                     for start, until, touched, _ in spans)]
    unplaced = sorted({m.sender for m in messages if m.sender not in on_server})
    accepted = sum(1 for m in during if m.accepted)
    figures: CheckResult = {
        "sent": len(messages), "answered": answered, "unanswered": len(messages) - answered,
        "unsent": unsent,
        "refused": sum(1 for m in messages if m.refused),
        "queued": sum(1 for m in messages if m.outcome == "fail" and m.queued),
        "chat_answered_rate": answered / len(messages) if messages else None,
        "unanswered_tokens": sorted(m.token for m in messages if not m.answered)[:MAX_LISTED],
        "applicable": bool(spans),
        "sent_during_faults": len(during),
        "accepted_during_faults": accepted,
        "refused_during_faults": sum(1 for m in during if m.refused),
        "unanswered_during_faults": sum(1 for m in during if not m.answered),
        "chat_accepted_during_faults": accepted / len(during) if during else None,
        "refused_during_faults_tokens": sorted(m.token for m in during if m.refused)[:MAX_LISTED],
        "refusal_errors": dict(Counter(str(m.error) for m in messages if m.refused)),
    }
    problems: list[str] = []
    unmeasured: list[str] = []
    if not messages:
        unmeasured.append("no chat line was sent")
    elif not _spec_valid("chat_answered_rate", figures["chat_answered_rate"]):
        problems.append(f"{len(messages) - answered} of {len(messages)} lines got no reply")
    if spans and not during:
        unmeasured.append("no chat line was sent by a player under a NATS fault"
                          + (f" (players on unknown servers: {unplaced})" if unplaced else ""))
    elif spans and not _spec_valid("chat_accepted_during_faults", figures["chat_accepted_during_faults"]):
        problems.append(f"{len(during) - accepted} of {len(during)} lines said during NATS faults "
                        f"were not accepted ({figures['refused_during_faults']} refused, "
                        f"{figures['unanswered_during_faults']} unanswered)")
    valid: Validity = False if problems else ("unknown" if unmeasured else True)
    return {"valid": valid, "problems": problems + unmeasured, **figures}


def _unsent(message: Message) -> bool:
    """The player's connection was gone before the line left: the client never sent it."""
    return message.outcome == "info" and message.error == NOT_CONNECTED


CLUSTER_NODE_FAULTS = frozenset({"partition_nats_node", "kill_nats_leader", "stop_nats_node"})
"""Faults on a NATS cluster's nodes: every game server's chat goes through the stream they touch."""
NATS_NODE = re.compile(r"nats-(\d+)")
"""A NATS cluster node's service name; a link ``nats-<i>...`` is mythos i's link to NATS."""


def is_nats_fault(window: Mapping[str, Any]) -> bool:
    """Faults on a mythos -> NATS link or on nats-server itself (not a game server crash)."""
    params = window.get("params") or {}
    service = str(params.get("service", ""))
    return (str(params.get("link", "")).startswith("nats-") or service == "nats"
            or NATS_NODE.fullmatch(service) is not None
            or window.get("fault") == "kill_nats" or window.get("fault") in CLUSTER_NODE_FAULTS)


def availability(test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
    """Share of health probes and non-chat commands answered while a NATS fault was active."""
    windows = [(w["start"], w["healed"] if w["healed"] is not None else math.inf)
               for w in fault_windows(history) if w["start"] is not None and is_nats_fault(w)]
    total = answered = 0
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for invocation, completion in _completions(history, F.PROBE):
        if not any(start <= invocation.time <= until for start, until in windows):
            continue
        kind = str((invocation.value or {}).get("kind", "probe"))
        ok = completion is not None and completion.type == "ok"
        total += 1
        answered += ok
        by_kind[kind][0] += ok
        by_kind[kind][1] += 1
    rate = answered / total if total else None
    valid: Validity
    if not windows:
        valid = True  # no NATS fault: nothing to hold (a game server crash is not a NATS fault)
    elif not total:
        valid = "unknown"
    else:
        valid = _spec_valid("availability_during_nats_faults", rate)
    return {"valid": valid, "applicable": bool(windows),
            "availability_during_nats_faults": rate, "probes": total, "answered": answered,
            "by_kind": {k: {"answered": a, "total": t} for k, (a, t) in sorted(by_kind.items())}}


def steady_state(test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
    """The Chaos Toolkit hypothesis: it held before every fault and again after every heal."""
    checks = [op for op in history if op.f == F.STEADY and op.type in ("ok", "fail", "info")]
    violations = [{"phase": (op.value or {}).get("phase"), "fault": (op.value or {}).get("fault"),
                   "probes": (op.value or {}).get("probes"), "error": op.error}
                  for op in checks if op.type != "ok"]
    valid: Validity = "unknown" if not checks else not violations
    return {"valid": valid, "checks": len(checks), "violations": violations}


def replay(test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
    """Each dead-lettered line, once the DLQ was replayed, reached every player still connected.

    ``dlq`` is the queue as it was before the replay. A line counts as replayed when every player
    in its room whose session was live across the replay received it before the second replay
    round (at any time before that: a line delivered before and after the replay is a
    duplicate, which the duplicates checker reports).
    """
    replays = [op for op in history if op.f == F.REPLAY and _round(op) == 1]
    second = _second_replay_start(history)
    tokens = sorted(dlq_token_counts(dlq))
    if not tokens:
        return {"valid": True, "dlq_entries": 0, "replayed": 0, "dlq_replayed": None, "not_replayed": []}
    if not any(op.type == "ok" for op in replays):
        failures = [op.error for op in replays if op.type != "invoke"]
        return {"valid": "unknown", "dlq_entries": len(tokens), "error": f"no replay ran ({failures})"}
    echo = bool(test.get("echo_to_sender", False))
    rooms = {m.token: (m.room, m.sender) for m in classify_messages(test, history, ())}
    # Recipients: players whose session was live across the whole replay (teardown comes after).
    first, last = replays[0].time, replays[-1].time
    live_at_end = {player: {room for room, since, until in spans if since <= first and until >= last}
                   for player, spans in connected_intervals(history).items()}
    seen: dict[str, set[str]] = defaultdict(set)
    for op in history:
        if op.f == F.RECV and op.type == "ok" and op.time < second:
            seen[str((op.value or {}).get("token", ""))].add(op.process)
    missing: dict[str, list[str]] = {}
    for token in tokens:
        room, sender = rooms.get(token, ("", ""))
        recipients = {p for p, live in live_at_end.items() if room in live and (echo or p != sender)}
        if not recipients or not recipients <= seen[token]:
            missing[token] = sorted(recipients - seen[token]) or ["no connected recipient"]
    replayed = len(tokens) - len(missing)
    return {"valid": not missing, "dlq_entries": len(tokens), "replayed": replayed,
            "dlq_replayed": replayed / len(tokens),
            "not_replayed": [{"token": t, "missing": m} for t, m in sorted(missing.items())][:MAX_LISTED],
            "replays": [op.value for op in replays if op.type == "ok"]}


def _round(op: Op) -> int:
    """The replay round of a replay operation (histories before rounds existed had one)."""
    return int((op.value or {}).get("round", 1))


def _second_replay_start(history: Sequence[Op]) -> float:
    return next((op.time for op in history if op.f == F.REPLAY and _round(op) == 2), math.inf)


def dlq_after(history: Sequence[Op], phase: str) -> list[Mapping[str, Any]] | None:
    """The DLQ entries the run read after replay round ``phase``; None when it read none."""
    snapshots = [op for op in history if op.f == F.DLQ and op.type == "ok" and (op.value or {}).get("phase") == phase]
    return list((snapshots[-1].value or {}).get("entries") or []) if snapshots else None


def replay_settled(test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
    """After the admin replay the DLQ is clean, and replaying it again delivers nothing new.

    A replay that delivers its lines but leaves their entries behind keeps the DLQ-depth gauge
    high and sends them again next time. So after round 1 every entry still queued must be a
    line that failed again: it was queued before, carries a reason, counts a replay attempt and
    reached nobody through the replay. Round 2 may then deliver only those failed lines, to
    players who never had them; any other reception from round 2 on is a line sent twice.
    """
    before = dlq_token_counts(dlq)
    rounds = [op for op in history if op.f == F.REPLAY]
    if not before and not rounds:
        return {"valid": True, "applicable": False, "problems": []}
    if not any(op.type == "ok" and _round(op) == 1 for op in rounds):
        return {"valid": "unknown", "applicable": True, "problems": ["no replay ran"]}
    after = dlq_after(history, "after_replay")
    second = _second_replay_start(history)
    second_ok = [op for op in rounds if _round(op) == 2 and op.type == "ok"]
    unmeasured: list[str] = []
    problems: list[str] = []
    if after is None:
        unmeasured.append("the DLQ was not read after the replay")
        after = []
    started = replay_start(history)
    replayed_to: dict[str, set[str]] = defaultdict(set)
    earlier: dict[str, set[str]] = defaultdict(set)
    late: list[tuple[str, str, float]] = []
    for op in history:
        if op.f != F.RECV or op.type != "ok":
            continue
        token = str((op.value or {}).get("token", ""))
        if op.time >= second:
            late.append((op.process, token, op.time))
            continue
        earlier[token].add(op.process)
        if op.time >= started:
            replayed_to[token].add(op.process)
    failed_again: set[str] = set()
    residue: list[dict[str, Any]] = []
    for entry in after:
        entry_token = dlq_entry_token(entry)
        reasons = []
        if entry_token is None:
            reasons.append("holds no chat line")
        elif entry_token not in before:
            reasons.append("was not queued before the replay")
        if not str(entry.get("error") or "").strip():
            reasons.append("has no reason")
        if int(entry.get("replay_attempts") or 0) < 1:
            reasons.append("counts no failed replay attempt")
        if entry_token is not None and replayed_to.get(entry_token):
            reasons.append(f"was delivered by the replay to {sorted(replayed_to[entry_token])}")
        if reasons:
            residue.append({"token": entry_token, "id": entry.get("id"), "reasons": reasons})
        elif entry_token is not None:
            failed_again.add(entry_token)
    if residue:
        problems.append(f"{len(residue)} DLQ entries left after the replay are not lines that failed again")
    resent = [{"player": player, "token": token, "t": t} for player, token, t in late
              if token not in failed_again or player in earlier.get(token, set())]
    if resent:
        problems.append(f"the second replay delivered {len(resent)} lines again")
    if not second_ok:
        unmeasured.append("no second replay ran")
    valid: Validity = False if problems else ("unknown" if unmeasured else True)
    return {"valid": valid, "applicable": True, "problems": problems + unmeasured,
            "entries_before": sum(before.values()), "entries_after": len(after),
            "failed_again": sorted(failed_again)[:MAX_LISTED], "residue": residue[:MAX_LISTED],
            "second_replay": [op.value for op in second_ok],
            "second_replay_receptions": len(late), "resent": resent[:MAX_LISTED]}


LINK_BREAKING_FAULTS = frozenset({"partition", "blackhole", "kill_nats", "reset_peer", "flapping"})
"""Faults after which a server's NATS link FSM must be seen leaving ``connected`` (others may not)."""

DETECTION_GRACE_S = 1.0
"""A drop noticed this long after the heal still counts as the fault's (pings are 1 s apart)."""


def metrics_series(history: Sequence[Op]) -> dict[str, list[tuple[float, Mapping[str, Any]]]]:
    """Per server, the time-ordered /metrics samples the run recorded."""
    series: dict[str, list[tuple[float, Mapping[str, Any]]]] = defaultdict(list)
    for op in history:
        value = op.value or {}
        if op.f == F.METRICS and op.type == "ok" and value.get("source", "prometheus") == "prometheus":
            series[str(value.get("server", ""))].append((op.time, value))
    return dict(series)


def affected_servers(window: Mapping[str, Any], servers: Sequence[str]) -> list[str]:
    """The game servers whose NATS link a fault window touches."""
    params = window.get("params") or {}
    link = NATS_NODE.match(str(params.get("link", "")))
    if link is not None:  # nats-<i>, or nats-<i>-to-<j> (a cluster): mythos i's link
        return [f"mythos-{link.group(1)}"]
    service = str(params.get("service", ""))
    if (window.get("fault") == "kill_nats" or service == "nats" or NATS_NODE.fullmatch(service)
            or window.get("fault") in CLUSTER_NODE_FAULTS):
        return list(servers)
    return []


def _collapse(values: Sequence[Any]) -> list[Any]:
    """The sequence with consecutive repeats removed: the path an FSM took."""
    path: list[Any] = []
    for value in values:
        if not path or path[-1] != value:
            path.append(value)
    return path


def transitions(test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
    """Link FSM and breaker as the servers' /metrics showed them.

    A fault that breaks the link must be seen by the FSM (a state other than connected, or the
    reconnect counter moving); after every heal the link must be connected again; and every
    server must end connected with its breaker closed.
    """
    series = metrics_series(history)
    if not series:
        return {"valid": "unknown", "error": "no /metrics samples: the servers export none"}
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    for window in fault_windows(history):
        start, healed = window["start"], window["healed"]
        if start is None:
            continue
        for server in affected_servers(window, sorted(series)):
            samples = series.get(server, [])
            until = (healed if healed is not None else math.inf) + DETECTION_GRACE_S
            before = [v for t, v in samples if t < start]
            during = [v for t, v in samples if start <= t <= until]
            after = [(t, v) for t, v in samples if healed is not None and t >= healed]
            reconnects_before = float(before[-1]["reconnects"]) if before else 0.0
            reconnects_after = max((float(v["reconnects"]) for _, v in after), default=reconnects_before)
            dropped = (any(v.get("connection_state") != "connected" for v in during)
                       or reconnects_after > reconnects_before)
            back = next((t for t, v in after if v.get("connection_state") == "connected"), None)
            row = {"window": window["window"], "fault": window["fault"], "server": server,
                   "link_path": _collapse([v.get("connection_state") for v in (*before[-1:], *during)]),
                   "breaker_path": _collapse([v.get("breaker_state") for v in (*before[-1:], *during)]),
                   "reconnects": reconnects_after - reconnects_before, "left_connected": dropped,
                   "expected_to_leave": window["fault"] in LINK_BREAKING_FAULTS,
                   "fsm_recovery_s": None if back is None or healed is None else back - healed}
            rows.append(row)
            if row["expected_to_leave"] and not dropped:
                problems.append(f"{server}: link FSM never left connected during {window['window']}")
            if healed is not None and back is None:
                problems.append(f"{server}: link not connected again after {window['window']} healed")
    end_states = {}
    for server, samples in sorted(series.items()):
        last = samples[-1][1]
        end_states[server] = {"connection_state": last.get("connection_state"),
                              "breaker_state": last.get("breaker_state")}
        if last.get("connection_state") != "connected" or last.get("breaker_state") not in ("closed", None):
            problems.append(f"{server}: ended {last.get('connection_state')} with breaker "
                            f"{last.get('breaker_state')}")
    breaker_opened = sorted({server for server, samples in series.items()
                             if any(v.get("breaker_state") == "open" for _, v in samples)})
    fsm_times = [r["fsm_recovery_s"] for r in rows if r["fsm_recovery_s"] is not None]
    return {"valid": not problems, "problems": problems, "windows": rows, "end_states": end_states,
            "breaker_opened": breaker_opened, "fsm_recovery_s": fsm_times,
            "samples": sum(len(s) for s in series.values())}


def latency(test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
    """Send-to-first-reception latency percentiles over every (message, recipient).

    Invalid when a line was received before it was said: the clock is one process's monotonic
    clock, so that can only be a reception credited to the wrong line.
    """
    messages = classify_messages(test, history, dlq)
    samples = [times[0] - m.invoked for m in messages if m.outcome == "ok"
               for player, times in m.received.items() if player != m.sender]
    early = sorted({m.token for m in messages
                    for times in (*m.received.values(), *m.replayed_to.values()) if min(times) < m.invoked})
    valid: Validity = False if early else (True if samples else "unknown")
    return {"valid": valid, "samples": len(samples),
            **{f"p{q}_s": percentile(samples, q) for q in (50, 95, 99)},
            "max_s": max(samples, default=None), "received_before_sent": early[:MAX_LISTED]}


def timeline(test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
    """Per time bucket: acknowledged sends and how many were delivered, for the report's plots."""
    width = float(test.get("bucket_s", 1.0))
    buckets: dict[int, dict[str, int]] = defaultdict(
        lambda: {"sent": 0, "delivered": 0, "received": 0, "refused": 0})
    for message in classify_messages(test, history, dlq):
        if message.outcome == "fail":
            buckets[int(message.invoked // width)]["refused"] += 1
        if message.status in ("delivered", "dead_lettered", "lost"):
            bucket = buckets[int(message.invoked // width)]
            bucket["sent"] += 1
            bucket["delivered"] += message.status == "delivered"
    for op in history:
        if op.f == F.RECV and op.type == "ok":
            buckets[int(op.time // width)]["received"] += 1
    rows = [{"t": index * width, **counts} for index, counts in sorted(buckets.items())]
    faults = [{k: w[k] for k in ("window", "fault", "start", "healed")} for w in fault_windows(history)]
    link = [{"t": t, "server": server, "state": v.get("connection_state"), "breaker": v.get("breaker_state")}
            for server, samples in sorted(metrics_series(history).items()) for t, v in samples]
    drains = [op.time for op in history if op.f == F.DRAIN]
    said = {str((op.value or {}).get("token")) for op in history if op.f == F.SAY and op.type == "invoke"}
    phantom = sorted({str((op.value or {}).get("token")) for op in history
                      if op.f == F.RECV and op.type == "ok" and (op.value or {}).get("token") not in said})
    return {"valid": not phantom, "bucket_s": width, "buckets": rows, "faults": faults, "link": link,
            "drain": drains[-1] if drains else None, "received_never_said": phantom[:MAX_LISTED]}


def alerts(test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
    """Prometheus's alerts during the run (harness.alerts): the expected fired and resolved, no other fired."""
    return judge_alerts(test, history, fault_windows(history), affected_servers)


CHECKERS: Mapping[str, Checker] = {
    "delivery": delivery,
    "duplicates": duplicates,
    "ordering": ordering,
    "recovery": recovery,
    "failover": failover,
    "acceptance": acceptance,
    "outbox": outbox,
    "availability": availability,
    "steady_state": steady_state,
    "transitions": transitions,
    "replay": replay,
    "replay_settled": replay_settled,
    "latency": latency,
    "timeline": timeline,
    "alerts": alerts,
    **ONE_WORLD_CHECKERS,  # sessions, alias_propagation, rate_budget, rooms (harness.cluster.checks)
}
"""Every checker by name; scenarios pick the ones their expectations need."""


def check_safe(checker: Checker, test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
    """Run a checker; a crash becomes a valid "unknown" result naming the error."""
    try:
        result = dict(checker(test, history, dlq))
    except Exception as exc:  # a checker bug must not hide the other verdicts
        return {"valid": "unknown", "error": f"{type(exc).__name__}: {exc}"}
    if result.get("valid") not in (True, False, "unknown"):
        return {"valid": "unknown", "error": f"checker returned valid={result.get('valid')!r}"}
    return result


def compose(checkers: Mapping[str, Checker]) -> Checker:
    """One checker running several by name; valid merges with :func:`merge_valid`."""

    def composed(test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
        results = {name: check_safe(checker, test, history, dlq) for name, checker in checkers.items()}
        return {"valid": merge_valid([r["valid"] for r in results.values()]), **results}

    return composed


def run_checks(test: Test, history: Sequence[Op], dlq: DLQEntries = (),
               names: Sequence[str] | None = None) -> CheckResult:
    """Compose the named checkers (all by default) and run them."""
    chosen = list(CHECKERS) if names is None else list(names)
    unknown = [n for n in chosen if n not in CHECKERS]
    if unknown:
        raise KeyError(f"unknown checkers {unknown}; known: {sorted(CHECKERS)}")
    return compose({n: CHECKERS[n] for n in chosen})(test, history, dlq)
