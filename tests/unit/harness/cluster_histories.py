"""Synthetic histories of the one-world workloads (harness.cluster), with exact times.

Each ``*_case(bad)`` returns (test header, operations, DLQ) for one checker: the smallest run of
the kind it exists to refuse (``bad=True``) and its good twin. The known-bad registry
(test_checker_known_bad.py) and the checker tests share them.
"""

from __future__ import annotations

from typing import Any

from harness.cluster.ops import W
from harness.history import NEMESIS, F, Op
from tests.unit.harness.builders import HistoryBuilder

Case = tuple[dict[str, Any], list[Op], list[dict[str, Any]]]


class ClusterHistory(HistoryBuilder):
    """HistoryBuilder plus the one-world operations."""

    def plan(self, t: float, workload: str, process: str = "racer", **figures: Any) -> ClusterHistory:
        self.op(t, "ok", process, W.PLAN, {"workload": workload, **figures})
        return self

    def session(self, t: float, done: float, workload: str, round_: int, side: str, server: str,
                outcome: str = "live", *, kind: str = "race", process: str = "racer",
                room: str = "arkham_square") -> ClusterHistory:
        tags = {"workload": workload, "round": round_, "kind": kind, "side": side, "server": server,
                "session_id": f"{side}{round_}"}
        self.op(t, "invoke", process, W.SESSION, tags)
        self.op(done, "ok" if outcome == "live" else "fail", process, W.SESSION,
                {**tags, "outcome": outcome, "room": room}, None if outcome == "live" else outcome)
        return self

    def evicted(self, t: float, workload: str, round_: int, side: str, *, process: str = "racer") -> ClusterHistory:
        self.op(t, "ok", process, W.EVICTED, {"workload": workload, "round": round_, "side": side, "notice": True})
        return self

    def alive(self, t: float, workload: str, round_: int, side: str, live: bool,
              *, process: str = "racer") -> ClusterHistory:
        tags = {"workload": workload, "round": round_, "side": side}
        self.op(t, "invoke", process, W.ALIVE, tags)
        self.op(t + 0.01, "ok" if live else "fail", process, W.ALIVE, tags, None if live else "closed")
        return self

    def race(self, t: float, round_: int, loser: str | None = "a", *, workload: str = "split_login",
             kind: str = "race", evict_after: float = 0.05) -> ClusterHistory:
        """One round on mythos-0 (side a) and mythos-1 (side b); ``loser`` evicted, None: neither."""
        sides = ("a", "b") if kind == "race" else ("old", "new")
        for side, server in zip(sides, ("mythos-0", "mythos-1"), strict=True):
            self.session(t, t + 0.03, workload, round_, side, server, kind=kind)
        if loser is not None:
            self.evicted(t + evict_after, workload, round_, loser)
        for side in sides:
            self.alive(t + 0.2, workload, round_, side, live=side != loser)
        return self

    def alias(self, sample: int, acked: float, seen_after: float | None, *, change: str = "define") -> ClusterHistory:
        tags = {"workload": "alias_propagation", "sample": sample, "change": change, "name": f"zq{sample // 2}",
                "server": "mythos-0"}
        self.op(acked - 0.05, "invoke", "aliaser", W.ALIAS_CHANGE, tags)
        self.op(acked, "ok", "aliaser", W.ALIAS_CHANGE, tags)
        want = "expanded" if change == "define" else "unknown"
        stale = "unknown" if want == "expanded" else "expanded"
        use = {"workload": "alias_propagation", "sample": sample, "name": tags["name"], "server": "mythos-1"}
        self.op(acked + 0.01, "invoke", "aliaser", W.ALIAS_USE, use)
        if seen_after is None:
            self.op(acked + 0.02, "ok", "aliaser", W.ALIAS_USE, {**use, "state": stale})
        else:
            self.op(acked + seen_after, "ok", "aliaser", W.ALIAS_USE, {**use, "state": want})
        return self

    def flood(self, t: float, n: int, server: str, ran: bool, rtt: float = 0.01) -> ClusterHistory:
        tags = {"workload": "rate_switch", "n": n, "server": server}
        self.op(t, "invoke", "flooder", W.FLOOD, tags)
        if ran:
            self.op(t + rtt, "ok", "flooder", W.FLOOD, tags)
        else:
            self.op(t + rtt, "fail", "flooder", W.FLOOD, {**tags, "error_type": "rate_limited"}, "rate_limited")
        return self

    def move(self, t: float, n: int, walker: str, room: str | None, error: str | None = None,
             retry_after: float | None = 2.0) -> ClusterHistory:
        tags = {"workload": "walkers", "n": n, "direction": "north", "server": "mythos-0"}
        self.op(t, "invoke", walker, W.MOVE, tags)
        if error is None:
            self.op(t + 0.01, "ok", walker, W.MOVE, {**tags, "room": room})
        else:
            self.op(t + 0.01, "fail", walker, W.MOVE, {**tags, "error_type": error, "retry_after": retry_after}, error)
        return self

    def db_rooms(self, t: float, rooms: dict[str, str]) -> ClusterHistory:
        self.op(t, "invoke", "admin", W.DB_ROOMS, {"workload": "walkers"})
        self.op(t + 0.05, "ok", "admin", W.DB_ROOMS, {"workload": "walkers", "rooms": rooms})
        return self

    def outage(self, start: float, healed: float) -> ClusterHistory:
        value = {"fault": "stop_service", "window": "stop_service@6s", "params": {"service": "postgres"}}
        for t, f in ((start, F.START), (healed, F.HEAL)):
            self.op(t, "invoke", NEMESIS, f, value)
            self.op(t, "ok", NEMESIS, f, value)
        return self


def sessions_case(bad: bool) -> Case:
    """Two rounds; the bad twin's second round leaves both sides live."""
    b = ClusterHistory().plan(0.0, "split_login", rounds=2)
    b.race(1.0, 0, loser="a").race(2.0, 1, loser=None if bad else "b")
    return {"workloads": ["split_login"]}, b.ops, []


def alias_case(bad: bool) -> Case:
    """Thirty samples seen 20 ms after their acknowledgement; the bad twin's last is never seen."""
    b = ClusterHistory().plan(0.0, "alias_propagation", process="aliaser", samples=30)
    for sample in range(30):
        seen = None if bad and sample == 29 else 0.02
        b.alias(sample, 1.0 + sample, seen, change="define" if sample % 2 == 0 else "remove")
    return {"workloads": ["alias_propagation"]}, b.ops, []


def rate_case(bad: bool) -> Case:
    """Ten commands run on mythos-0, then the player hops: the bad twin's mythos-1 runs ten more at
    once (a second budget in the same second), the good one refuses until the window is past."""
    b = ClusterHistory().plan(0.0, "rate_switch", process="flooder", budget=10, window_s=1.0, hops=1)
    n = 0
    for i in range(15):
        b.flood(1.0 + 0.02 * i, n, "mythos-0", ran=i < 10)
        n += 1
    b.evicted(1.35, "rate_switch", 0, "hop0", process="flooder")
    for i in range(20):
        t = 1.4 + 0.05 * i
        b.flood(t, n, "mythos-1", ran=(i < 10) if bad else t > 2.05 and i < 19)
        n += 1
    return {"workloads": ["rate_switch"]}, b.ops, []


def rooms_case(bad: bool) -> Case:
    """A walker moves, is refused while the database is down, and the database is read after:
    the bad twin's database holds the room of a move the server refused (half-written)."""
    b = ClusterHistory().plan(0.0, "walkers", process="admin", walkers=["walker0"])
    b.session(0.5, 0.6, "walkers", 0, "walker", "mythos-0", kind="walk", process="walker0")
    b.connect(0.5, "alice", "bob", server="mythos-1")
    b.move(1.0, 0, "walker0", "miskatonic_gate")
    b.outage(2.0, 7.0)
    b.move(3.0, 1, "walker0", None, error="database_unavailable")
    b.say(4.0, "alice", 1)
    b.recv(4.05, "bob", "alice", 1)
    b.drain(9.0)
    b.db_rooms(10.0, {"walker0": "arkham_square" if bad else "miskatonic_gate"})
    return {"workloads": ["walkers"]}, b.ops, []
