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

    def connect(self, t: float, *players: str, room: str = ROOM, server: str | None = None) -> HistoryBuilder:
        for player in players:
            self.op(t, "invoke", player, F.CONNECT, {"room": room})
            self.op(t, "ok", player, F.CONNECT, {"room": room, **({"server": server} if server else {})})
        return self

    def disconnect(self, t: float, player: str) -> HistoryBuilder:
        return self.op(t, "info", player, F.DISCONNECT, {"reason": "closed"}, "connection closed")

    def say(self, t: float, sender: str, seq: int, outcome: OpType = "ok", room: str = ROOM,
            *, queued: bool = False, error: str | None = None) -> str:
        """A line; a refused one (``fail``) with ``queued`` carries the DLQ id the server gave."""
        token = message_token(sender, seq)
        value = {"token": token, "seq": seq, "room": room}
        self.op(t, "invoke", sender, F.SAY, value)
        done = {**value, "queued": True, "dlq_id": f"dlq-{token}"} if queued else value
        self.op(t + 0.01, outcome, sender, F.SAY, done,
                None if outcome == "ok" else (error or ("chat_unavailable" if queued else "x")))
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

    def replay(self, t: float, round_: int = 1, server: str = "mythos-0", replayed: int = 0,
               pending: int = 0) -> HistoryBuilder:
        self.op(t, "invoke", "admin", F.REPLAY, {"server": server, "round": round_})
        return self.op(t + 0.05, "ok", "admin", F.REPLAY,
                       {"server": server, "round": round_, "replayed": replayed, "pending": pending})

    def dlq_read(self, t: float, entries: list[dict[str, Any]], phase: str = "after_replay") -> HistoryBuilder:
        return self.op(t, "ok", "admin", F.DLQ, {"phase": phase, "entries": entries})


def dlq_entry(sender: str, seq: int, *, error: str = "NATS link down", replay_attempts: int = 0,
              content: str | None = None, old_shape: bool = False) -> dict[str, Any]:
    """A DLQ entry file as mythos writes it (``DeadLetterEntry``), holding one chat line.

    ``old_shape``: the earlier file layout (``message_data``, ``created_at``), still on disk in
    older runs and still read by the server.
    """
    token = message_token(sender, seq)
    body = {"sender_name": sender, "channel": "say", "content": token if content is None else content,
            "room_id": ROOM, "message_id": f"m-{token}"}
    if old_shape:
        return {"id": f"dlq-{token}", "message_data": body, "error": error, "retry_count": 0,
                "created_at": 0.0, "replay_attempts": replay_attempts}
    return {"id": f"dlq-{token}", "timestamp": "2026-01-01T00:00:00+00:00", "message": body, "error": error,
            "error_type": "ConnectionError", "retry_count": 0, "replay_attempts": replay_attempts}
