"""Load figures as pure functions of what a run leaves: per-player records and Locust's JSON stats."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["alias_figures", "capacity_figures", "chat_figures", "connection_figures", "flood_figures",
           "merged_histogram", "percentile", "records_histogram"]

ALIAS_RATE_TOLERANCE = 1.1  # executed/s may exceed the limit by clock skew between client and server only


def percentile(histogram: Mapping[int, int] | Mapping[str, int], fraction: float) -> float | None:
    """Locust's percentile of a ``{response_time_ms: count}`` histogram (the smallest value covering it)."""
    items = sorted((float(k), int(v)) for k, v in histogram.items() if int(v) > 0)
    total = sum(n for _, n in items)
    if total == 0:
        return None
    seen = 0
    for value, count in items:
        seen += count
        if seen >= fraction * total:
            return value
    return items[-1][0]


def merged_histogram(stats: Iterable[Mapping[str, Any]], request_type: str, name: str | None = None) -> dict[int, int]:
    """Sum the response-time histograms of Locust's JSON entries of one request type (and name)."""
    merged: dict[int, int] = {}
    for entry in stats:
        if entry.get("method") != request_type or (name is not None and entry.get("name") != name):
            continue
        for key, count in (entry.get("response_times") or {}).items():
            merged[int(float(key))] = merged.get(int(float(key)), 0) + int(count)
    return merged


def _role(records: Iterable[Mapping[str, Any]], role: str) -> list[Mapping[str, Any]]:
    return [r for r in records if r.get("role") == role]


def connection_figures(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Players that finished a connection attempt (register, login, WebSocket, first room_state); how many made it."""
    attempted = [r for r in records if r.get("connect_ok") or r.get("connect_error")]
    ok = sum(1 for r in attempted if r.get("connect_ok"))
    dropped = sum(1 for r in attempted if r.get("connect_ok") and r.get("closed"))
    errors = sorted({str(r["connect_error"]) for r in attempted if r.get("connect_error")})[:5]
    return {"attempts": len(attempted), "successes": ok, "dropped_after_connect": dropped,
            "rate": ok / len(attempted) if attempted else None, "errors": errors}


def records_histogram(records: Iterable[Mapping[str, Any]], key: str = "latency_ms") -> dict[int, int]:
    """Sum the players' own round-trip histograms (accepted commands only; refusals are never in them)."""
    merged: dict[int, int] = {}
    for r in records:
        for bucket, count in (r.get(key) or {}).items():
            merged[int(float(bucket))] = merged.get(int(float(bucket)), 0) + int(count)
    return merged


def flood_figures(records: Sequence[Mapping[str, Any]], *, limit: int, window_s: float) -> dict[str, Any]:
    """``dos_blocked_ratio`` = refused excess / excess, per attacker, over the span the server answered in.

    The limit lets ``limit`` commands through per window, so over a reply span of T seconds
    at most ``limit * (T / window + 1)`` may run; every answered command beyond that is excess
    and should have been refused with ``rate_limited``.

    The compliant players' latency comes from their own records, over the commands the server
    ACCEPTED after the warm-up (a timeout counts at the player's patience): a server that refuses
    everyone answers fast, and its refusals must not make a p99. Locust's own histogram of the
    ``player`` type is not used: what lands in it depends on how the locustfile reports.
    """
    excess = blocked = sent = executed = refused = 0.0
    peak_in_window = 0
    for r in _role(records, "attacker"):
        answered = int(r["executed"]) + sum(int(v) for v in r["refused"].values())
        allowed = limit * (float(r["reply_span_s"]) / window_s + 1.0)
        mine = max(0.0, answered - allowed)
        rate_limited = int(r["refused"].get("rate_limited", 0))
        excess += mine
        blocked += min(rate_limited, mine)
        sent += int(r["sent"])
        executed += int(r["executed"])
        refused += rate_limited
        peak_in_window = max(peak_in_window, int(r["max_executed_in_window"]))
    players = _role(records, "player")
    compliant_refusals = sum(sum(int(v) for v in r["refused"].values()) for r in players)
    histogram = records_histogram(players)
    with_warmup = records_histogram(players, "latency_ms_warmup")
    for rt, n in histogram.items():
        with_warmup[rt] = with_warmup.get(rt, 0) + n
    timeouts = sum(int(r["timeouts"]) for r in players)
    return {
        "attackers": len(_role(records, "attacker")), "players": len(players),
        "attacker_sent": int(sent), "attacker_executed": int(executed), "attacker_refused": int(refused),
        "excess": round(excess, 1), "excess_refused": round(blocked, 1),
        "dos_blocked_ratio": blocked / excess if excess > 0 else None,
        "attacker_max_executed_in_window": peak_in_window,
        "compliant_commands": sum(int(r["sent"]) for r in players),
        "compliant_accepted": sum(int(r["executed"]) for r in players),
        "compliant_refusals": compliant_refusals,
        "compliant_timeouts": timeouts,
        "compliant_measured": sum(histogram.values()),
        "compliant_p50_ms": percentile(histogram, 0.50), "compliant_p99_ms": percentile(histogram, 0.99),
        "compliant_p99_with_warmup_ms": percentile(with_warmup, 0.99),
    }


def _executed_span(record: Mapping[str, Any]) -> float:
    """Seconds over which the flood's commands ran: from the flood's start to its last
    ``room_state``. A server that holds a flooding socket unread keeps running the backlog after
    the attacker stops sending (its close frame waits behind it), so the send span alone would
    divide a long run's count by a short time."""
    span = float(record.get("flood_span_s") or 0.0)
    started, last = record.get("flood_started_at"), record.get("last_room_state_at")
    if isinstance(started, int | float) and isinstance(last, int | float):
        span = max(span, float(last) - float(started))
    return span


def alias_figures(records: Sequence[Mapping[str, Any]], *, limit: int, window_s: float,
                  alias_size: int) -> dict[str, Any]:
    """Executed commands per second per attacker, counted from the ``room_state`` each executed look sent."""
    attackers = _role(records, "alias")
    defined = [r for r in attackers if r.get("alias_defined")]
    rates, attempted = [], []
    for r in defined:
        span = _executed_span(r)
        if span <= 0:
            continue
        executed = int(r["room_states"]) - int(r.get("room_states_before_flood", 0))
        rates.append(executed / span)
        attempted.append(int(r["sent"]) * alias_size / span)
    errors = sorted({str(r.get("alias_error")) for r in attackers if not r.get("alias_defined")})
    cap = limit / window_s
    return {
        "attackers": len(attackers), "alias_defined": len(defined), "alias_errors": errors[:3],
        "limit_per_s": cap,
        "attempted_commands_per_s": max(attempted) if attempted else None,
        "executed_commands_per_s_mean": sum(rates) / len(rates) if rates else None,
        "executed_commands_per_s_max": max(rates) if rates else None,
        "max_executed_in_window": max((int(r["max_room_states_in_window"]) for r in defined), default=None),
        "refused": {k: sum(int(r["refused"].get(k, 0)) for r in defined)
                    for k in sorted({k for r in defined for k in r["refused"]})},
        "capped": (max(rates) <= cap * ALIAS_RATE_TOLERANCE) if rates else None,
    }


def chat_figures(records: Sequence[Mapping[str, Any]], stats: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Delivery latency (``chat / say delivery``) and the share of lines that reached every other player."""
    chatters = [r for r in _role(records, "chat") if r.get("connect_ok")]
    listeners = len(chatters) - 1
    said = sum(int(r["chat_sent"]) for r in chatters)
    received = sum(int(r["chat_received"]) for r in chatters)
    expected = said * listeners if listeners > 0 else 0
    histogram = merged_histogram(stats, "chat", "say delivery")
    return {"players": len(chatters), "lines": said, "deliveries": received, "expected_deliveries": expected,
            "delivered_ratio": received / expected if expected else None,
            "room_size_min": min((int(r.get("room_size_at_start", 0)) for r in chatters), default=None),
            "delivery_p50_ms": percentile(histogram, 0.50), "delivery_p99_ms": percentile(histogram, 0.99),
            "delivery_max_ms": max(histogram, default=None)}


def capacity_figures(steps_doc: Mapping[str, Any]) -> dict[str, Any]:
    """The highest step whose own window kept p99 within the limit: commands/s and players."""
    steps = list(steps_doc.get("steps") or [])
    limit = float(steps_doc.get("p99_limit_ms") or 100.0)
    good = [s for s in steps if s.get("p99_ms") is not None and float(s["p99_ms"]) <= limit]
    best = max(good, key=lambda s: float(s["commands_per_s"]), default=None)
    crossed = any(s.get("p99_ms") is not None and float(s["p99_ms"]) > limit for s in steps)
    return {"steps": steps, "stop_reason": steps_doc.get("stop_reason"), "p99_limit_ms": limit,
            "crossed_limit": crossed,
            "sustained_commands_per_s": float(best["commands_per_s"]) if best else None,
            "sustained_players": int(best["users"]) if best else None,
            "sustained_p99_ms": float(best["p99_ms"]) if best else None}
