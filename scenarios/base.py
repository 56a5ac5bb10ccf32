"""A chaos scenario, composed like a Jepsen test, and the runner that plays it.

Roles:

- **services**: :class:`harness.topology.Topology` (nats-server, toxiproxy, mythos x N);
- **client**: :class:`harness.client.ScenarioPlayer`, real accounts over real WebSockets (a
  :class:`harness.cluster.failover_player.FailoverPlayer` with ``failover``: it plays on another
  server while its own is down);
- **workloads**: more clients beside the chat, by name (:mod:`harness.cluster.workloads`: split
  logins, alias changes, a flood that switches servers, players walking through a database outage);
- **nemesis**: the fault windows of the schedule (:func:`harness.schedule.run_nemesis`);
- **schedule**: :class:`harness.schedule.Schedule`, the workload's pace and the fault windows;
- **checker**: the named checkers of :mod:`harness.checker`, run on the saved history.

:func:`noop_test` is the scenario with no fault; real scenarios are ``noop_test(...)`` with a
name, a schedule and maybe a different topology. The steady state (Chaos Toolkit's hypothesis:
every server healthy with NATS connected, players can chat) is checked before each fault and
again after its heal, and recorded in the history for the ``steady_state`` checker.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import structlog

from harness.checker import CHECKERS, run_checks
from harness.client import ScenarioPlayer, probe_health
from harness.cluster.context import WorkloadContext
from harness.cluster.failover_player import FailoverPlayer
from harness.cluster.workloads import WORKLOADS, run_workloads
from harness.history import F, History, dlq_entry_token, message_token
from harness.metrics_probe import fetch_sample
from harness.paths import DEFAULT_REPORTS, RunPaths
from harness.results import ScenarioResult, collect_dlq, now
from harness.schedule import Schedule, run_nemesis
from harness.services.prometheus import PROMETHEUS_ENV, watch_alerts
from harness.topology import KNOWN_WEAK_ENV, Topology, TopologySpec

__all__ = ["ChaosTest", "SteadyStateNotHeld", "alert_watch", "noop_test", "run_scenario", "weakened"]

log = structlog.get_logger(__name__)

STEADY_POLL_S = 0.25
STEADY_CHAT_TIMEOUT_S = 3.0
RECONNECT_BACKOFF_S = 0.5
METRICS_INTERVAL_S = 0.25
"""Often enough to see a link leave ``connected`` during a few-second fault."""
HTTP_TIMEOUT_S = 2.0
REPLAY_SETTLE_S = 5.0
"""How long replayed lines get to reach the players before the run ends."""
SECOND_REPLAY_SETTLE_S = 2.0
"""How long a second replay gets to show it re-sends nothing (a re-sent line lands in ms)."""
PLAYER_NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")


@dataclass(frozen=True, slots=True)
class ChaosTest:
    """One scenario: what runs, what breaks when, and what is checked. Pure data until run."""

    name: str
    evidence: str
    topology: TopologySpec = field(default_factory=TopologySpec)
    schedule: Schedule = field(default_factory=lambda: Schedule(duration_s=5.0, settle_s=2.0))
    players: tuple[int, ...] = (0, 0, 0)
    """The mythos instance each player connects to (by index)."""
    checkers: tuple[str, ...] = tuple(CHECKERS)
    echo_to_sender: bool = True
    """Mythos delivers a speaker's own line back through NATS, so the speaker is a recipient too."""
    replay_dlq: bool = True
    """After the drain, replay every server's DLQ through the admin API and check each line lands."""
    workloads: tuple[str, ...] = ()
    """Workloads beside the chat (harness.cluster.workloads), run one after another from the first
    steady state; their checkers read what they recorded."""
    failover: bool = False
    """Players know every game server and reconnect to the next one when theirs cannot take them."""

    def __post_init__(self) -> None:
        if len(self.players) > len(PLAYER_NAMES):
            raise ValueError(f"at most {len(PLAYER_NAMES)} players")
        if any(i >= self.topology.mythos for i in self.players):
            raise ValueError("a player is placed on a mythos instance the topology does not have")
        unknown = [c for c in self.checkers if c not in CHECKERS]
        if unknown:
            raise ValueError(f"unknown checkers {unknown}")
        unknown = [w for w in self.workloads if w not in WORKLOADS]
        if unknown:
            raise ValueError(f"unknown workloads {unknown}; known: {sorted(WORKLOADS)}")

    def describe(self) -> dict[str, Any]:
        """The history header: enough for ``harness analyze`` to re-check the run."""
        return {"name": self.name, "evidence": self.evidence, "echo_to_sender": self.echo_to_sender,
                "replay_dlq": self.replay_dlq, "workloads": list(self.workloads), "failover": self.failover,
                "players": list(self.players), "checkers": list(self.checkers),
                "player_servers": {name: f"mythos-{index}"
                                   for name, index in zip(PLAYER_NAMES, self.players, strict=False)},
                "schedule": self.schedule.to_dict(),
                "topology": {**asdict(self.topology), "mythos_env": dict(self.topology.mythos_env)}}


def noop_test(**overrides: Any) -> ChaosTest:
    """The scenario with no faults: the baseline every real scenario extends."""
    base = ChaosTest(name="noop", evidence="scenarios/base.py")
    return replace(base, **overrides)


class SteadyStateNotHeld(Exception):
    """The steady-state hypothesis did not hold in time; the message says what failed last."""


def weakened(test: ChaosTest) -> ChaosTest:
    """``test`` against the known-weak configuration (core NATS, no publish retries).

    The harness's own credibility: the same faults against this configuration must fail the
    delivery KPIs, or the harness could not tell a fix from its absence.
    """
    env = {**test.topology.mythos_env, **KNOWN_WEAK_ENV}
    return replace(test, name=f"{test.name}_weak", topology=replace(test.topology, jetstream=False, mythos_env=env))


class _Run:
    """One execution of a ChaosTest against a live topology."""

    def __init__(self, test: ChaosTest, topology: Topology, history: History) -> None:
        self.test = test
        self.topology = topology
        self.history = history
        self.players: list[ScenarioPlayer] = []
        self._steady_seq = itertools.count(1)
        self.dlq_snapshot: list[dict[str, Any]] | None = None
        """The DLQ as it was after the drain, before any replay: what dlq_accounted judges."""

    async def setup(self) -> None:
        for name, index in zip(PLAYER_NAMES, self.test.players, strict=False):
            server = self.topology.mythos[index]
            player = self._player(name, index)
            await player.register_and_login()
            if not await player.connect():
                raise RuntimeError(f"{name} could not connect to {server.name} before any fault")
            self.players.append(player)

    def _player(self, name: str, index: int) -> ScenarioPlayer:
        """A player homed on mythos ``index``; with ``failover`` it knows the others, in order after it."""
        server, url = self.topology.mythos[index], self.topology.client_url(index)
        if not self.test.failover:
            return ScenarioPlayer(name, url, self.history, invite_code=server.take_invite(), server=server.name)
        count = len(self.topology.mythos)
        order = [(index + step) % count for step in range(count)]
        return FailoverPlayer(name, url, self.history, invite_code=server.take_invite(), server=server.name,
                              servers=tuple((self.topology.mythos[i].name, self.topology.client_url(i))
                                            for i in order))

    async def teardown(self) -> None:
        for player in self.players:
            await player.close("teardown")

    # -- steady state
    async def steady_state(self, phase: str, window: str) -> bool:
        """Health ok with NATS connected on every server, and a chat line reaching every player.

        When it does not hold in time, raises :class:`SteadyStateNotHeld` naming the last thing
        that failed; the nemesis records that as the steady-state failure's error.
        """
        deadline = self.history.now() + (self.test.schedule.recovery_timeout_s if phase == "after" else 5.0)
        while True:
            reason = await self._unhealthy() or await self._chat_round_failure()
            if reason is None:
                return True
            if self.history.now() >= deadline:
                raise SteadyStateNotHeld(reason)
            await asyncio.sleep(STEADY_POLL_S)

    async def _unhealthy(self) -> str | None:
        """Why the servers are not steady (health, or link / breaker in /metrics); None when they are."""
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, headers={"User-Agent": "mythos-harness"}) as http:
            for index, server in enumerate(self.topology.mythos):
                try:
                    body = (await http.get(f"{self.topology.client_url(index)}/api/health")).json()
                except (httpx.HTTPError, ValueError) as exc:
                    return f"{server.name} health: {type(exc).__name__}"
                if body.get("status") != "ok" or body.get("nats") != "ok":
                    return f"{server.name} health: status={body.get('status')} nats={body.get('nats')}"
                sample = await fetch_sample(http, server.base_url)
                if sample is not None and not sample.steady:
                    return (f"{server.name} metrics: link {sample.connection_state}, "
                            f"breaker {sample.breaker_state}")
        return None

    async def _chat_round_failure(self) -> str | None:
        """Why a chat line did not reach every connected player; None when it did."""
        connected = [p for p in self.players if p.connected]
        if not connected:
            return "no player connected"
        speaker = connected[0]
        outcome = await speaker.say()
        if outcome != "ok":
            return f"chat: {speaker.name}'s line was {outcome}"
        token = message_token(speaker.name, speaker.seq)
        waited = 0.0
        missing: set[str] = set()
        while waited < STEADY_CHAT_TIMEOUT_S:
            seen = {op.process for op in self.history.ops
                    if op.f == F.RECV and (op.value or {}).get("token") == token}
            missing = {p.name for p in connected} - seen
            if not missing:
                return None
            await asyncio.sleep(0.05)
            waited += 0.05
        return f"chat: {token} not received by {sorted(missing)} within {STEADY_CHAT_TIMEOUT_S:g} s"

    # -- workload
    async def _player_loop(self, player: ScenarioPlayer, until: float) -> None:
        next_probe = 0.0
        while self.history.now() < until:
            if not player.connected and not await player.connect():
                await asyncio.sleep(RECONNECT_BACKOFF_S)
                continue
            await player.say()
            if self.history.now() >= next_probe:
                await player.probe("look")
                next_probe = self.history.now() + self.test.schedule.probe_interval_s
            await asyncio.sleep(self.test.schedule.send_interval_s)

    async def _health_loop(self, until: float) -> None:
        while self.history.now() < until:
            for index in range(len(self.topology.mythos)):
                await probe_health(self.history, self.topology.client_url(index), process=f"prober{index}")
            await asyncio.sleep(self.test.schedule.probe_interval_s)

    async def _metrics_loop(self, stop: asyncio.Event) -> None:
        """Scrape every server's /metrics into the history until ``stop`` (FSM and breaker over time)."""
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, headers={"User-Agent": "mythos-harness"}) as http:
            while not stop.is_set():
                for server in self.topology.mythos:
                    sample = await fetch_sample(http, server.base_url)
                    if sample is not None:
                        self.history.observe("metrics", F.METRICS, {"server": server.name, "source": "prometheus",
                                                                   **sample.to_dict()})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), METRICS_INTERVAL_S)

    async def execute(self) -> None:
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(self._metrics_loop(stop_sampling))
        try:
            await self._execute()
        finally:
            stop_sampling.set()
            with contextlib.suppress(Exception):
                await sampler

    async def _execute(self) -> None:
        schedule = self.test.schedule
        await self.setup()
        try:
            await self._steady_recorded("before", "run")
            origin = self.history.now()
            until = origin + schedule.duration_s
            tasks = [asyncio.create_task(self._player_loop(p, until)) for p in self.players]
            tasks.append(asyncio.create_task(self._health_loop(until)))
            if self.test.workloads:
                context = WorkloadContext.of(self.topology, self.history, until)
                tasks.append(asyncio.create_task(run_workloads(self.test.workloads, context)))
            nemesis = asyncio.create_task(run_nemesis(schedule, self.topology, self.history,
                                                      steady_state=self.steady_state, origin=origin))
            try:
                await asyncio.gather(nemesis, *tasks)
            finally:
                for task in (nemesis, *tasks):
                    task.cancel()
                for task in (nemesis, *tasks):
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            await asyncio.sleep(schedule.settle_s)
            self.history.observe("test", F.DRAIN)
            await self._steady_recorded("after", "run")
            await self._admin_snapshots()
            self.dlq_snapshot = collect_dlq(server.data_dir for server in self.topology.mythos)
            if self.test.replay_dlq and self.dlq_snapshot:
                await self._replay_dlq()
        finally:
            await self.teardown()

    async def _replay_dlq(self) -> None:
        """Replay every server's DLQ through the admin API, read the DLQ again, replay it again.

        Round 1 must land every queued line and leave only lines that failed again; round 2
        must deliver nothing new. Both are recorded for the ``replay_settled`` checker: the DLQ
        read after each round goes into the history, so ``harness analyze`` can re-judge it.
        """
        await self._replay_round(1)
        tokens = {token for entry in self.dlq_snapshot or () if (token := dlq_entry_token(entry))}
        # Settled when every connected player has seen every replayed line, not merely someone:
        # ending the step at the first sighting cut off the last deliveries by milliseconds.
        members = {p.name for p in self.players if p.connected}
        deadline = self.history.now() + REPLAY_SETTLE_S
        while self.history.now() < deadline:
            seen_by: dict[str, set[str]] = {}
            for op in self.history.ops:
                if op.f == F.RECV:
                    seen_by.setdefault(str((op.value or {}).get("token")), set()).add(op.process)
            if all(members <= seen_by.get(token, set()) for token in tokens):
                break
            await asyncio.sleep(0.1)
        self._record_dlq("after_replay")
        await self._replay_round(2)
        await asyncio.sleep(SECOND_REPLAY_SETTLE_S)
        self._record_dlq("after_second_replay")

    async def _replay_round(self, round_: int) -> None:
        """POST /api/admin/dlq/replay on every server, recorded as replay round ``round_``."""
        for server in self.topology.mythos:
            invocation = self.history.invoke("admin", F.REPLAY, {"server": server.name, "round": round_})
            try:
                body = await asyncio.to_thread(server.replay_dlq)
            except Exception as exc:  # recorded: the replay checkers say unknown, never pass silently
                self.history.fail(invocation, f"{type(exc).__name__}: {exc}")
                continue
            self.history.ok(invocation, {"server": server.name, "round": round_, **body})

    def _record_dlq(self, phase: str) -> None:
        entries = collect_dlq(server.data_dir for server in self.topology.mythos)
        self.history.observe("admin", F.DLQ, {"phase": phase, "entries": entries})

    async def _admin_snapshots(self) -> None:
        """The admin JSON view of each server at the end (mode, counters), kept as evidence."""
        for server in self.topology.mythos:
            try:
                body = await asyncio.to_thread(server.metrics)
            except Exception as exc:  # an older server without /api/metrics: evidence only
                self.history.observe("metrics", F.METRICS, {"server": server.name, "source": "api",
                                                           "error": f"{type(exc).__name__}: {exc}"})
                continue
            self.history.observe("metrics", F.METRICS, {"server": server.name, "source": "api",
                                                       "nats": body.get("nats", {})})

    async def _steady_recorded(self, phase: str, window: str) -> None:
        invocation = self.history.invoke("probe", F.STEADY, {"phase": phase, "window": window})
        try:
            await self.steady_state(phase, window)
        except SteadyStateNotHeld as exc:
            self.history.fail(invocation, f"steady state did not hold: {exc}")
        else:
            self.history.ok(invocation)


def run_scenario(test: ChaosTest, *, reports: Path = DEFAULT_REPORTS,
                 checkers: Sequence[str] | None = None) -> ScenarioResult:
    """Run ``test`` on a fresh topology, save history, DLQ and verdict under reports/runs/<run>/."""
    paths = RunPaths.new(test.name, reports).create()
    started = now()
    history = History(paths.history, test=test.describe())
    try:
        with Topology(test.topology, paths) as topology, alert_watch(topology, paths, history):
            run = _Run(test, topology, history)
            asyncio.run(run.execute())
            dlq = (run.dlq_snapshot if run.dlq_snapshot is not None
                   else collect_dlq(server.data_dir for server in topology.mythos))
    finally:
        history.close()
    _write_json(paths.dlq, dlq)
    checks = run_checks(test.describe(), history.ops, dlq, names=checkers or test.checkers)
    result = ScenarioResult(scenario=test.name, run_id=paths.run_id, evidence=test.evidence,
                            started=started, finished=now(), history=str(paths.history), checks=checks,
                            schedule=test.schedule.to_dict())
    result.save(paths.results)
    log.info("scenario_checked", scenario=test.name, valid=checks["valid"], run=paths.run_id)
    return result


def alert_watch(topology: Topology, paths: RunPaths, history: History) -> contextlib.AbstractContextManager[Any]:
    """With HARNESS_PROMETHEUS set (the chaos suite sets it), one Prometheus for this topology,
    scraping every game server, its alerts recorded in the history for the ``alerts`` checker."""
    binary = os.environ.get(PROMETHEUS_ENV)
    if not binary:
        return contextlib.nullcontext()
    targets = {server.name: f"127.0.0.1:{server.port}" for server in topology.mythos}
    return watch_alerts(Path(binary), paths.run_dir / "prometheus", paths.log_dir, targets, history)


def _write_json(path: Path, data: Sequence[Mapping[str, Any]]) -> None:
    path.write_text(json.dumps(list(data), indent=2, default=str) + "\n", encoding="utf-8")
