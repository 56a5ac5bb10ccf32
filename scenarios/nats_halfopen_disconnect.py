"""Scenario: players are disconnected mid-command while the publish breaker is half-open.

The fault is the one of ``nats_breaker``: a latency toxic on the NATS -> mythos side of the link
delays every stream ack by 3 s (past the publish deadline, within the ping bound), so publishes
fail on a live link and the breaker opens; after ``NATS_BREAKER_TIMEOUT`` (2 s here, for several
half-open periods within the fault) the next ``say`` is the breaker's probe, and it waits for
its slow ack. The workload adds what the issue found (issue 12, item 1): while the fault is on
and the server's last /metrics sample shows the breaker not closed, a player whose ``say`` is
still unanswered after ``EVICT_AFTER_S`` is evicted: the same account opens a second session,
the server evicts the first and cancels its WebSocket reader in the middle of the publish. That
cancels the probe. Before the fix the probe slot stayed taken for ever, the breaker stayed
half-open, and every later line was refused while NATS was healthy again; the cancelled line
was neither published nor dead-lettered.

What must hold (``tests/chaos/test_halfopen_disconnect.py``): the breaker closes after the heal
and chat flows; every line cut off by an eviction was delivered or is in the DLQ (and reaches the
players after the replay), once; every other line was answered. The evicted lines are unanswered
by design, so this scenario is judged by its own test, not pooled into the chaos suite's
acceptance KPIs.

Run it with :func:`run` (the eviction workload); ``harness chaos`` plays only its fault and the
plain chat workload.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import websockets

from harness.checker import run_checks
from harness.client import USER_AGENT, ScenarioPlayer
from harness.history import F, History, Op, message_token
from harness.paths import DEFAULT_REPORTS, RunPaths
from harness.results import ScenarioResult, collect_dlq, now
from harness.schedule import FaultWindow, Schedule
from harness.topology import FAST_DETECTION_ENV, Topology, TopologySpec
from scenarios.base import ChaosTest, _Run, alert_watch, noop_test

__all__ = ["EVICT_AFTER_S", "SCENARIO", "Eviction", "HalfOpenRun", "run"]

ACK_DELAY_MS = 3000
"""Above the publish ack timeout (2 s), below the 4 s ping bound: publishes fail, the link stays up."""
EVICT_AFTER_S = 0.5
"""A ``say`` still unanswered this long while the breaker is not closed is the probe, mid-publish
(a refused line is answered in milliseconds)."""
EVICT_TIMEOUT_S = 5.0

SCENARIO = noop_test(
    name="nats_halfopen_disconnect",
    evidence="scenarios/nats_halfopen_disconnect.py",
    topology=TopologySpec(mythos_env={**FAST_DETECTION_ENV, "NATS_PING_INTERVAL": "2.0",
                                      "NATS_BREAKER_TIMEOUT": "2.0"}),
    players=(0, 0, 0, 0, 0),
    schedule=Schedule(duration_s=34.0, settle_s=5.0, windows=(
        FaultWindow("latency", at_s=4.0, duration_s=14.0,
                    params={"link": "nats-0", "stream": "downstream",
                            "latency_ms": ACK_DELAY_MS, "jitter_ms": 0}),)),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Eviction:
    """One player cut off mid-``say``: its line's token, when, and what /metrics last showed."""

    player: str
    token: str
    t: float
    breaker_state: str | None
    evicted: bool
    error: str | None = None


class HalfOpenRun(_Run):
    """The base run, with players evicted mid-``say`` while the fault is on and the breaker is not closed."""

    def __init__(self, test: ChaosTest, topology: Topology, history: History) -> None:
        super().__init__(test, topology, history)
        self.evictions: list[Eviction] = []

    def _fault_on(self) -> bool:
        for op in reversed(self.history.ops):
            if op.process == "nemesis" and op.f in (F.START, F.HEAL):
                return op.f == F.START
        return False

    def _breaker_state(self, server: str) -> str | None:
        """The breaker as the last /metrics sample of ``server`` showed it."""
        for op in reversed(self.history.ops):
            value = op.value or {}
            if op.f == F.METRICS and value.get("server") == server and "breaker_state" in value:
                return str(value["breaker_state"])
        return None

    async def _player_loop(self, player: ScenarioPlayer, until: float) -> None:
        next_probe = 0.0
        while self.history.now() < until:
            if not player.connected and not await player.connect():
                await asyncio.sleep(0.5)
                continue
            saying = asyncio.create_task(player.say())
            done, _ = await asyncio.wait({saying}, timeout=EVICT_AFTER_S)
            state = self._breaker_state(player.server)
            if not done and self._fault_on() and state not in (None, "closed"):
                await self._evict(player, state)
            await saying
            if not player.connected:
                continue  # evicted: reconnect first (a probe now would only find no connection)
            if self.history.now() >= next_probe:
                await player.probe("look")
                next_probe = self.history.now() + self.test.schedule.probe_interval_s
            await asyncio.sleep(self.test.schedule.send_interval_s)

    async def _evict(self, player: ScenarioPlayer, state: str) -> None:
        """Open a second session of the same account: the server evicts the first, cancelling its reader."""
        token = message_token(player.name, player.seq)
        base = player.base_url.replace("http://", "ws://", 1)
        url = f"{base}/api/ws?token={player.token}&session_id={uuid.uuid4().hex}"
        at = self.history.now()
        try:
            async with asyncio.timeout(EVICT_TIMEOUT_S):
                async with websockets.connect(url, user_agent_header=USER_AGENT, open_timeout=None) as ws:
                    await ws.recv()  # the room state: the new session is registered, the old one evicted
        except (TimeoutError, OSError, websockets.WebSocketException) as exc:
            self.evictions.append(Eviction(player.name, token, at, state, False, f"{type(exc).__name__}: {exc}"))
            return
        self.evictions.append(Eviction(player.name, token, at, state, True))


def evicted_tokens(evictions: list[Eviction], history: list[Op]) -> list[str]:
    """Tokens of lines whose ``say`` an eviction cut off (no reply: the connection was lost)."""
    cut = {e.token for e in evictions if e.evicted}
    infos = {str((op.value or {}).get("token")) for op in history if op.f == F.SAY and op.type == "info"}
    return sorted(cut & infos)


def run(test: ChaosTest = SCENARIO, *, reports: Path = DEFAULT_REPORTS) -> tuple[ScenarioResult, list[Eviction]]:
    """``scenarios.base.run_scenario`` with the eviction workload; the evictions go beside the history."""
    paths = RunPaths.new(test.name, reports).create()
    started = now()
    history = History(paths.history, test=test.describe())
    evictions: list[Eviction] = []
    try:
        with Topology(test.topology, paths) as topology, alert_watch(topology, paths, history):
            workload = HalfOpenRun(test, topology, history)
            try:
                asyncio.run(workload.execute())
            finally:
                evictions = workload.evictions
            dlq = (workload.dlq_snapshot if workload.dlq_snapshot is not None
                   else collect_dlq(server.data_dir for server in topology.mythos))
    finally:
        history.close()
    paths.dlq.write_text(json.dumps(list(dlq), indent=2, default=str) + "\n", encoding="utf-8")
    (paths.run_dir / "evictions.json").write_text(
        json.dumps([asdict(e) for e in evictions], indent=2) + "\n", encoding="utf-8")
    checks = run_checks(test.describe(), history.ops, dlq, names=test.checkers)
    result = ScenarioResult(scenario=test.name, run_id=paths.run_id, evidence=test.evidence,
                            started=started, finished=now(), history=str(paths.history), checks=checks,
                            schedule=test.schedule.to_dict())
    result.save(paths.results)
    return result, evictions
