"""Checkers of the one-world workloads: pure functions of (test, history, DLQ), like harness.checker's.

- :func:`sessions`: split logins and sequential logins (``double_sessions``,
  ``cross_server_eviction_s``);
- :func:`alias_propagation`: ``alias_propagation_ms``;
- :func:`rate_budget`: the commands that ran in any rate window, over every server;
- :func:`rooms`: the database outage was refused clearly, chat kept flowing, and every player's
  room in the database is the one the server last confirmed.

A checker applies when the test names one of its workloads (the history header's ``workloads``)
or the history holds one of their plans; otherwise it says ``applicable: False`` and valid. A
workload that raised, never recorded its plan, or did less than planned is invalid, and its section
says ``complete: False``, which leaves its KPIs not measured (harness.cluster.kpis): what was not
measured is never a pass. Figures are judged against the catalogue (harness.kpi).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from harness.cluster.ops import W, completions, nemesis_windows, p95, plans, value
from harness.history import F, Op
from harness.kpi import compare, spec_for

__all__ = ["ONE_WORLD_CHECKERS", "alias_propagation", "rate_budget", "rooms", "sessions"]

CheckResult = dict[str, Any]
Test = Mapping[str, Any]
DLQEntries = Sequence[Mapping[str, Any]]

SESSION_WORKLOADS = ("split_login", "sequential_eviction")
MIN_ALIAS_SAMPLES = 30
MAX_LISTED = 20
DATABASE_SERVICE = "postgres"
OUTAGE_TAIL_S = 5.0
"""After the database's restart, a server's pool may still refuse for a moment: refusals this
long after the heal still belong to the outage."""


def _spec_valid(kpi_id: str, figure: float | None) -> bool:
    spec = spec_for(kpi_id)
    return compare(figure, spec.comparator, spec.threshold)


def _applies(test: Test, history: Sequence[Op], workloads: Iterable[str]) -> list[str]:
    """The workloads of ``workloads`` this run meant to run or did run."""
    named = set(test.get("workloads") or ())
    ran = {str(value(op).get("workload")) for op in history if op.f == W.PLAN}
    return [w for w in workloads if w in named or w in ran]


def _workload_problems(test: Test, history: Sequence[Op], workloads: Sequence[str]) -> list[str]:
    """A workload that raised, or was named by the test and never recorded its plan."""
    problems = [f"{value(op).get('workload')} raised: {op.error}" for op in history
                if op.f == W.ERROR and value(op).get("workload") in workloads]
    named = set(test.get("workloads") or ())
    problems += [f"{w} never started (no plan in the history)" for w in workloads
                 if w in named and not plans(history, w)]
    return problems


def _not_applicable(**figures: Any) -> CheckResult:
    return {"valid": True, "applicable": False, **figures}


# ---------------------------------------------------------------- sessions


def _session_rounds(history: Sequence[Op]) -> dict[tuple[str, int], dict[str, Any]]:
    """Per (workload, round): its kind and, per side, where it opened, when, how, and its fate."""
    rounds: dict[tuple[str, int], dict[str, Any]] = {}
    for invocation, done in completions(history, W.SESSION, ("workload", "round", "side")):
        tags = value(invocation)
        if tags.get("workload") not in SESSION_WORKLOADS:
            continue
        entry = rounds.setdefault((str(tags["workload"]), int(tags["round"])),
                                  {"kind": tags.get("kind"), "sides": {}})
        entry["sides"][str(tags["side"])] = {
            "server": tags.get("server"), "invoked": invocation.time, "evicted": None, "alive": None,
            "outcome": value(done).get("outcome", "unknown") if done is not None else "unknown"}
    for op in history:
        tags = value(op)
        side = rounds.get((str(tags.get("workload")), int(tags.get("round", -1))), {}).get("sides", {}).get(
            str(tags.get("side"))) if op.f == W.EVICTED else None
        if side is not None and side["evicted"] is None:
            side["evicted"] = op.time
    for invocation, done in completions(history, W.ALIVE, ("workload", "round", "side")):
        tags = value(invocation)
        side = rounds.get((str(tags.get("workload")), int(tags.get("round", -1))), {}).get("sides", {}).get(
            str(tags.get("side")))
        if side is not None:
            side["alive"] = done is not None and done.type == "ok"
    return rounds


def sessions(test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
    """Exactly one session survives each login round; ``double_sessions`` and ``cross_server_eviction_s``.

    A round settles (one side closed by its server, or the settle time passed) and then asks
    each side a command: a side that answers is live. Two live sides are a double session; none
    is a round that lost the player. The other side must have been evicted (``session_evicted``
    or close 4409) or refused, not closed some other way. In a sequential round the newer login
    must be the one that survives. The eviction time of a round is the loser's eviction minus the start of the
    survivor's connect; ``cross_server_eviction_s`` is their p95 over every round of both kinds.
    """
    active = _applies(test, history, SESSION_WORKLOADS)
    if not active:
        return _not_applicable(double_sessions=None, cross_server_eviction_s=None)
    problems = _workload_problems(test, history, active)
    planned = sum(int(plan.get("rounds", 0)) for w in active for plan in plans(history, w))
    rounds = _session_rounds(history)
    double, empty, wrong_winner, unsettled, unexplained = [], [], [], [], []
    times: dict[str, list[float]] = defaultdict(list)
    outcomes: Counter[str] = Counter()
    for (workload, number), entry in sorted(rounds.items()):
        label = f"{workload}#{number}"
        sides = entry["sides"]
        outcomes.update(side["outcome"] for side in sides.values())
        if len(sides) != 2 or any(side["alive"] is None for side in sides.values()):
            unsettled.append(label)
            continue
        live = [name for name, side in sides.items() if side["alive"]]
        if len(live) > 1:
            double.append(label)
        elif not live:
            empty.append(label)
        else:
            survivor = sides[live[0]]
            loser = next(side for name, side in sides.items() if name != live[0])
            if entry["kind"] == "sequential" and live[0] != "new":
                wrong_winner.append(label)
            if loser["evicted"] is not None:
                times[str(entry["kind"])].append(round(loser["evicted"] - survivor["invoked"], 4))
            elif loser["outcome"] != "refused":
                unexplained.append(label)
    settled = len(rounds) - len(unsettled)
    if settled < planned:
        problems.append(f"{settled} of {planned} planned login rounds settled")
    complete = not problems
    pooled = [t for kind in sorted(times) for t in times[kind]]
    figure = p95(pooled)
    if double:
        problems.append(f"{len(double)} rounds left two live sessions: {double[:MAX_LISTED]}")
    if empty:
        problems.append(f"{len(empty)} rounds left no live session: {empty[:MAX_LISTED]}")
    if wrong_winner:
        problems.append(f"{len(wrong_winner)} sequential rounds kept the older login: {wrong_winner[:MAX_LISTED]}")
    if unexplained:
        problems.append(f"{len(unexplained)} rounds ended a session neither evicted (session_evicted / 4409) nor "
                        f"refused: {unexplained[:MAX_LISTED]}")
    valid: bool | str
    if problems:
        valid = False
    elif figure is None:
        valid = "unknown"
    else:
        valid = _spec_valid("cross_server_eviction_s", figure)
    return {"valid": valid, "applicable": True, "complete": complete, "workloads": active, "planned_rounds": planned,
            "rounds": settled, "double_sessions": len(double), "no_session_rounds": len(empty),
            "wrong_winner": len(wrong_winner), "unexplained": len(unexplained), "unsettled": unsettled[:MAX_LISTED],
            "outcomes": dict(sorted(outcomes.items())),
            "eviction_s": {kind: times[kind] for kind in sorted(times)},
            "eviction_p95_s": {kind: p95(times[kind]) for kind in sorted(times)},
            "cross_server_eviction_s": figure, "cross_server_eviction_max_s": max(pooled, default=None),
            "evictions": len(pooled), "problems": problems}


# ---------------------------------------------------------------- aliases


def alias_propagation(test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
    """``alias_propagation_ms``: per sample, from the defining server's acknowledgement to the
    first reply of the other server that shows the change (the alias runs, or is unknown once
    removed). A change never shown within the workload's wait did not propagate: invalid."""
    if not _applies(test, history, ("alias_propagation",)):
        return _not_applicable(alias_propagation_ms=None)
    problems = _workload_problems(test, history, ("alias_propagation",))
    planned = sum(int(plan.get("samples", 0)) for plan in plans(history, "alias_propagation"))
    uses: dict[int, list[tuple[Op, Op | None]]] = defaultdict(list)
    for invocation, done in completions(history, W.ALIAS_USE, ("sample",)):
        uses[int(value(invocation).get("sample", -1))].append((invocation, done))
    samples: list[dict[str, Any]] = []
    failed_changes, unpropagated = [], []
    polls = Counter[str]()
    for invocation, done in completions(history, W.ALIAS_CHANGE, ("sample",)):
        tags = value(invocation)
        number = int(tags.get("sample", -1))
        for _, use in uses.get(number, ()):
            polls[str(value(use).get("error_type") or value(use).get("state")) if use is not None else "no reply"] += 1
        if done is None or done.type != "ok":
            failed_changes.append(number)
            continue
        want = "expanded" if tags.get("change") == "define" else "unknown"
        seen = next((use.time for call, use in uses.get(number, ())
                     if use is not None and call.time >= done.time and value(use).get("state") == want), None)
        if seen is None:
            unpropagated.append(number)
            continue
        samples.append({"sample": number, "change": tags.get("change"), "from": tags.get("server"),
                        "ms": round(1000.0 * (seen - done.time), 2)})
    measured = [s["ms"] for s in samples]
    figure = p95(measured)
    if failed_changes:
        problems.append(f"alias changes not acknowledged: samples {failed_changes[:MAX_LISTED]}")
    if unpropagated:
        problems.append(f"changes another server never showed: samples {unpropagated[:MAX_LISTED]}")
    if len(measured) < max(planned, MIN_ALIAS_SAMPLES):
        problems.append(f"{len(measured)} samples measured, {max(planned, MIN_ALIAS_SAMPLES)} needed")
    complete = not problems  # a change never shown has no time: the p95 of the rest would flatter
    valid: bool | str = False if problems else _spec_valid("alias_propagation_ms", figure)
    return {"valid": valid, "applicable": True, "complete": complete, "planned": planned, "samples": len(measured),
            "alias_propagation_ms": figure, "alias_propagation_max_ms": max(measured, default=None),
            "per_sample": samples, "polls": dict(sorted(polls.items())), "problems": problems}


# ---------------------------------------------------------------- rate budget


def _busiest_window(accepted: Sequence[tuple[float, float, str]],
                    width: float) -> tuple[int, float | None, dict[str, int]]:
    """The most commands that certainly ran inside one window of ``width`` seconds.

    A command ran at some moment between its send and its reply, so a command whose whole
    [send, reply] span lies inside a window ran inside it: counting only those never exceeds what
    the server saw, and a per-server budget (two budgets after a hop) still shows plainly.
    """
    best, at, by_server = 0, None, {}
    for start, _, _ in accepted:
        inside = [(s, e, server) for s, e, server in accepted if s >= start and e <= start + width]
        if len(inside) > best:
            best, at = len(inside), start
            by_server = dict(Counter(server for _, _, server in inside))
    return best, at, by_server


def rate_budget(test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
    """A flood that hops servers never gets more than one budget's commands into one window.

    Also required: the flood reached at least two servers, it was a flood (commands were refused
    on every server it reached), and each server it left evicted its session.
    """
    if not _applies(test, history, ("rate_switch",)):
        return _not_applicable(max_in_window=None)
    problems = _workload_problems(test, history, ("rate_switch",))
    plan = next(iter(plans(history, "rate_switch")), None)
    if plan is None:
        return {"valid": False, "applicable": True, "max_in_window": None, "problems": problems}
    budget, width = int(plan["budget"]), float(plan["window_s"])
    accepted: list[tuple[float, float, str]] = []
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    for invocation, done in completions(history, W.FLOOD, ("n",)):
        server = str(value(invocation).get("server"))
        if done is not None and done.type == "ok":
            accepted.append((invocation.time, done.time, server))
            outcomes[server]["ran"] += 1
        elif done is not None and done.type == "fail":
            outcomes[server][str(value(done).get("error_type") or done.error)] += 1
        else:
            outcomes[server]["no reply"] += 1
    best, at, by_server = _busiest_window(accepted, width)
    evicted = sum(1 for op in history if op.f == W.EVICTED and value(op).get("workload") == "rate_switch")
    hops = int(plan.get("hops", 0))
    if best > budget:
        problems.append(f"{best} commands ran within {width:g} s ({by_server}), the budget is {budget}")
    if len(outcomes) < 2:
        problems.append(f"the flood reached {sorted(outcomes)} only: it never switched servers")
    unrefused = sorted(server for server, counts in outcomes.items() if not counts["rate_limited"])
    if unrefused:
        problems.append(f"nothing was refused on {unrefused}: the flood never exceeded the budget there")
    if evicted < hops:
        problems.append(f"{evicted} of {hops} sessions left behind were evicted")
    return {"valid": not problems, "applicable": True, "budget": budget, "window_s": width,
            "max_in_window": best, "busiest_window_at": at, "busiest_by_server": by_server,
            "by_server": {server: dict(counts) for server, counts in sorted(outcomes.items())},
            "evicted": evicted, "hops": hops, "problems": problems}


# ---------------------------------------------------------------- rooms through a database outage


def _confirmed_rooms(history: Sequence[Op]) -> tuple[dict[str, str], set[str], Counter[str], list[dict[str, Any]]]:
    """Per walker, the room the server last confirmed; walkers whose last move's outcome is
    unknown; refusal counts by error type; refusals with their time and retry hint."""
    confirmed: dict[str, str] = {}
    ambiguous: set[str] = set()
    errors: Counter[str] = Counter()
    refusals: list[dict[str, Any]] = []
    events: list[tuple[float, str, str | None, bool]] = []
    for invocation, done in completions(history, W.SESSION, ("workload", "round", "side")):
        if value(invocation).get("workload") == "walkers" and done is not None and done.type == "ok":
            events.append((done.time, invocation.process, value(done).get("room"), False))
    for invocation, done in completions(history, W.MOVE, ("n",)):
        if value(invocation).get("workload") != "walkers":
            continue
        if done is not None and done.type == "ok":
            events.append((done.time, invocation.process, value(done).get("room"), False))
        elif done is not None and done.type == "fail":
            kind = str(value(done).get("error_type") or done.error)
            errors[kind] += 1
            refusals.append({"time": invocation.time, "error_type": kind,
                             "retry_after": value(done).get("retry_after")})
        else:
            events.append((invocation.time, invocation.process, None, True))
            errors["no reply"] += 1
    for _, walker, room, unknown in sorted(events, key=lambda e: e[0]):
        if unknown:
            ambiguous.add(walker)
        elif room:
            confirmed[walker] = str(room)
            ambiguous.discard(walker)
    return confirmed, ambiguous, errors, refusals


def _outages(history: Sequence[Op]) -> list[tuple[float, float]]:
    return [(w["start"], w["healed"]) for w in nemesis_windows(history)
            if w["params"].get("service") == DATABASE_SERVICE]


def _said_during(history: Sequence[Op], outages: Sequence[tuple[float, float]]) -> tuple[int, int]:
    """Chat lines acknowledged, and chat receptions, while the database was down."""
    def during(t: float) -> bool:
        return any(start <= t <= healed for start, healed in outages)

    acknowledged = sum(1 for op in history if op.f == F.SAY and op.type == "ok" and during(op.time))
    received = sum(1 for op in history if op.f == F.RECV and during(op.time))
    return acknowledged, received


def rooms(test: Test, history: Sequence[Op], dlq: DLQEntries) -> CheckResult:
    """Through a database outage: moves refused with ``database_unavailable`` and a retry hint
    (nothing else), chat acknowledged and delivered meanwhile, and afterwards every walker's room
    in the database equal to the one the server last confirmed to it."""
    if not _applies(test, history, ("walkers",)):
        return _not_applicable(database_refusals=None)
    problems = _workload_problems(test, history, ("walkers",))
    confirmed, ambiguous, errors, refusals = _confirmed_rooms(history)
    read = [(op, value(op)) for op in history if op.f == W.DB_ROOMS and op.type != "invoke"]
    stored: Mapping[str, Any] = {}
    if not read or read[-1][0].type != "ok":
        problems.append(f"the walkers' rooms were not read from the database: "
                        f"{read[-1][0].error if read else 'no read'}")
    else:
        stored = read[-1][1].get("rooms") or {}
    mismatched = {walker: {"confirmed": room, "database": stored.get(walker)}
                  for walker, room in sorted(confirmed.items())
                  if stored and stored.get(walker) != room and walker not in ambiguous}
    if stored and not confirmed:
        problems.append("no walker ever had a room confirmed")
    if mismatched:
        problems.append(f"rooms half-written: {mismatched}")
    outages = _outages(history)
    in_outage = [r for r in refusals
                 if any(start <= r["time"] <= healed + OUTAGE_TAIL_S for start, healed in outages)]
    unavailable = [r for r in in_outage if r["error_type"] == "database_unavailable"]
    without_hint = [r for r in unavailable if not isinstance(r["retry_after"], int | float) or r["retry_after"] <= 0]
    other = Counter(r["error_type"] for r in refusals if r["error_type"] != "database_unavailable")
    acknowledged, received = _said_during(history, outages)
    if outages and not unavailable:
        problems.append("no move was refused with database_unavailable: the outage was never felt")
    if without_hint:
        problems.append(f"{len(without_hint)} database_unavailable refusals without a retry_after")
    if other:
        problems.append(f"moves refused otherwise than database_unavailable: {dict(other)}")
    if outages and not (acknowledged and received):
        problems.append(f"chat did not flow while the database was down: {acknowledged} lines acknowledged, "
                        f"{received} received")
    return {"valid": not problems, "applicable": True, "walkers": sorted(confirmed), "confirmed": confirmed,
            "database": dict(stored), "ambiguous": sorted(ambiguous), "mismatched": mismatched,
            "database_refusals": len(unavailable), "refusals_by_type": dict(sorted(errors.items())),
            "outages": [[start, healed] for start, healed in outages],
            "chat_acknowledged_during_outage": acknowledged, "chat_received_during_outage": received,
            "problems": problems}


ONE_WORLD_CHECKERS: Mapping[str, Callable[[Test, Sequence[Op], DLQEntries], CheckResult]] = {
    "sessions": sessions,
    "alias_propagation": alias_propagation,
    "rate_budget": rate_budget,
    "rooms": rooms,
}
"""The one-world checkers by name, merged into :data:`harness.checker.CHECKERS`."""
