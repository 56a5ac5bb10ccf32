"""Synthetic histories for checker tests: exact times, no system, no clock."""

from __future__ import annotations

from typing import Any

from harness.history import NEMESIS, F, Op, OpType, message_token

ROOM = "arkham_001"


class HistoryBuilder:
    """Appends operations at explicit times so each test states its timeline."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def op(self, t: float, op_type: OpType, process: str, f: str, value: Any = None,
           error: str | None = None) -> HistoryBuilder:
        self.ops.append(Op(len(self.ops), op_type, process, f, value, t, error))
        return self

    def connect(self, t: float, *players: str, room: str = ROOM) -> HistoryBuilder:
        for player in players:
            self.op(t, "invoke", player, F.CONNECT, {"room": room})
            self.op(t, "ok", player, F.CONNECT, {"room": room})
        return self

    def disconnect(self, t: float, player: str) -> HistoryBuilder:
        return self.op(t, "info", player, F.DISCONNECT, {"reason": "closed"}, "connection closed")

    def say(self, t: float, sender: str, seq: int, outcome: OpType = "ok", room: str = ROOM) -> str:
        token = message_token(sender, seq)
        value = {"token": token, "seq": seq, "room": room}
        self.op(t, "invoke", sender, F.SAY, value)
        self.op(t + 0.01, outcome, sender, F.SAY, value, None if outcome == "ok" else "x")
        return token

    def recv(self, t: float, receiver: str, sender: str, seq: int) -> HistoryBuilder:
        return self.op(t, "ok", receiver, F.RECV,
                       {"token": message_token(sender, seq), "sender": sender, "seq": seq})

    def fault(self, start: float, healed: float, name: str = "partition",
              window: str = "w1", params: dict[str, Any] | None = None) -> HistoryBuilder:
        value = {"fault": name, "window": window, "params": {"link": "nats-0"} if params is None else params}
        self.op(start, "invoke", NEMESIS, F.START, value)
        self.op(start, "ok", NEMESIS, F.START, value)
        self.op(healed, "invoke", NEMESIS, F.HEAL, value)
        return self.op(healed, "ok", NEMESIS, F.HEAL, value)

    def probe(self, t: float, outcome: OpType, kind: str = "health",
              process: str = "prober") -> HistoryBuilder:
        self.op(t, "invoke", process, F.PROBE, {"kind": kind})
        return self.op(t + 0.01, outcome, process, F.PROBE, {"kind": kind})

    def steady(self, t: float, held: bool, phase: str = "before") -> HistoryBuilder:
        return self.op(t, "ok" if held else "fail", "probe", F.STEADY,
                       {"phase": phase, "fault": "partition", "probes": {"chat": held}},
                       None if held else "chat failed")

    def metrics(self, t: float, state: str, breaker: str = "closed", reconnects: float = 0.0,
                server: str = "mythos-0") -> HistoryBuilder:
        return self.op(t, "ok", "metrics", F.METRICS, {
            "server": server, "source": "prometheus", "connection_state": state, "breaker_state": breaker,
            "reconnects": reconnects, "dlq_depth": 0.0, "dead_lettered": 0.0})

    def drain(self, t: float) -> HistoryBuilder:
        return self.op(t, "ok", "test", F.DRAIN)
