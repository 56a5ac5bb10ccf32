"""Benchmark: the game server's own CPU per command, beside a bare WebSocket echo in the same run.

A load generator on the same two cores saturates before the server does, so its throughput
measures the generator. Here a lean asyncio client (one command in flight, no per-command
bookkeeping beyond a counter) drives a real ``mythos serve`` (its own SQLite files and
nats-server, 127.0.0.1) and reads the server process's CPU time (every thread, at the
scheduler's nanosecond resolution: ``cpu_seconds``) before and after a fixed number of commands. The same client drives
bench/echo_server.py, a bare FastAPI/uvicorn echo with mythos's uvicorn options: the floor for
this stack. Each command and its floor run in 10 alternating chunks (``paired``), each measured
once both servers are idle, so the load other work puts on the machine moves both sides alike;
each KPI is the median over the repeats of command / floor.

- look: the 20 room players take turns (a look also sends the player a room_state event);
- say: one line at a time, from the 20 players in turn, into their room of 20: done when every
  player has received every line. The same with four players each alone in a room gives the
  cost of one more recipient, (say to 20 - say alone) / 19;
- refusal: a player whose rate budget is spent sends ``look``; each answer is a rate_limited
  error. A refused connection is not read again until the window has room (fake lag), so each
  refusal is the first command of its own connection of the player's session, all opened
  before the measurement; its floor is one echo on each of as many connections. The refusals go
  to a second server of the same code, limited to 10 commands an hour, so the held
  connections never wake while anything is measured;
- idle: 1,000 players each with a WebSocket and an event stream (SSE) in one session, as the web
  client holds them; the server's VmRSS before and after, per 1,000 players.

The game server's rate limit is 300 commands in 45 s for the run (the check costs the same at
any size: a ring per player), so the look and say players are never refused; heartbeats come
every 300 s (a timer per connection, not a cost per
command). Players are rows written into the server's database with tokens signed by its key:
registration (argon2) is not what is measured.

Run: python -m bench.server_cost [--looks 1500] [--says 300] [--refusals 1000] [--echoes 2000]
     [--idle 1000] [--repeats 3]   (about 4 minutes)
Writes server_cpu_us_per_look, server_cpu_us_per_say, server_cpu_us_per_refusal and
server_rss_mb_per_1000_idle_players into reports/kpi/bench.json (merged by KPI id).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import structlog
import websockets
from websockets.asyncio.client import ClientConnection

from harness.kpi import DEFAULT_OUT_DIR, KPIResult, kpi_from_catalogue, write_suite
from harness.services.mythos import MythosServer
from harness.services.nats import NatsServer
from harness.services.process import ManagedProcess, free_port, wait_until
from mythos.auth import TokenService

__all__ = ["CostFigures", "cpu_seconds", "kpis", "main", "rss_kib", "run"]

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]
ROOM = "arkham_square"
IDLE_ROOMS = ("miskatonic_gate", "orne_library", "river_street", "restricted_stacks")
FLOOD_ROOM = "river_street"
ROOM_PLAYERS = 20
ALONE_ROOMS = ("hangman_hill", "curwen_street", "witch_house", "witch_attic")
"""Rooms with one player each: a say heard by its speaker alone, so the cost per recipient is
(say to 20 - say alone) / 19."""
RATE_BUDGET = 300
RATE_WINDOW_S = 45
REFUSAL_ENV = {"RATE_LIMIT_MAX_COMMANDS": "10", "RATE_LIMIT_WINDOW_SECONDS": "3600"}
"""The refusal server's limit: the default 10 commands, but an hour's window, so after ten looks
every command of a player is refused, and a refused connection stays held (unread, idle) until
the server stops."""
HEARTBEAT_INTERVAL_S = 300
"""Heartbeats go to every connection on a timer: a cost per connection and second, not per
command, which would land at random in a measurement of the 1,000 refusal connections."""
OPEN_BATCH = 100
CHUNKS = 10
"""Connections opened at once (refusal connections, idle players)."""
QUIET_CPU_SHARE = 0.05
"""The server is idle when it uses less than this share of a core over QUIET_SAMPLE_S."""
QUIET_SAMPLE_S = 0.1
QUIET_TIMEOUT_S = 30.0
PER_RECIPIENT_ALLOWANCE_US = 5.0
"""The say goal allows 5 us of server CPU per recipient above 3x the floor (KPIS.md)."""
PHASE_TIMEOUT_S = 120.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
_CPUCLOCK_SCHED = 2  # the "sched" kind of a Linux process CPU clock id (include/linux/posix-timers.h)
COMMAND = "look"
SAY_TEXT = "Ph'nglui mglw'nafh Cthulhu R'lyeh wgah'nagl fhtagn"


def _process_cpu_clock(pid: int) -> int:
    """Linux's CPU-time clock of another process (clock_getcpuclockid(3)): every thread's
    scheduler runtime, exited threads included, in nanoseconds."""
    return ((~pid) << 3) | _CPUCLOCK_SCHED


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of ``pid`` so far, at the scheduler's nanosecond resolution.

    Not /proc/<pid>/stat's utime + stime: those count clock ticks (10 ms), and a chunk of 200
    echoes is about 4 ms of CPU, so the floor read 20, 25 or 30 us per echo by chance of where
    the ticks fell (test_server_cost). Falls back to the ticks where the clock is refused."""
    try:
        return time.clock_gettime_ns(_process_cpu_clock(pid)) / 1e9
    except OSError:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        fields = text[text.rindex(")") + 2:].split()  # the name may hold spaces: count from after it
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (/proc/<pid>/status, VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def command_frame(command: str) -> str:
    return json.dumps({"type": "command", "data": {"command": command}}, separators=(",", ":"))


class Socket:
    """One WebSocket with a reader: one command in flight, chat lines counted as they arrive."""

    def __init__(self, ws: ClientConnection, *, echo: bool = False) -> None:
        self.ws = ws
        self.echo = echo
        self.chats = 0
        self.room_seen = asyncio.Event()
        self._reply: asyncio.Future[tuple[str, str]] | None = None
        self._reader = asyncio.create_task(self._read())

    async def request(self, frame: str) -> tuple[str, str]:
        """Send ``frame`` and wait for its answer: (kind, error_type); kind is ok, refused or failed."""
        self._reply = asyncio.get_running_loop().create_future()
        await self.ws.send(frame)
        return await self._reply

    async def _read(self) -> None:
        with contextlib.suppress(websockets.WebSocketException):
            async for raw in self.ws:
                if self.echo:
                    self._resolve(("ok", ""))
                    continue
                message = json.loads(raw)
                if message.get("type") == "pong":
                    self._resolve(("ok", "pong"))
                    continue
                if message.get("type") == "error":
                    error_type = str(message.get("error_type"))
                    self._resolve(("refused" if error_type == "rate_limited" else "failed", error_type))
                    continue
                event = message.get("event_type")
                if event == "chat":
                    self.chats += 1
                elif event == "room_state":
                    self.room_seen.set()
                elif event == "command_result":
                    ok = bool(message.get("data", {}).get("ok", True))
                    self._resolve(("ok", "") if ok else ("failed", str(message["data"].get("error_type"))))
        self._resolve(("failed", "connection closed"))

    def _resolve(self, outcome: tuple[str, str]) -> None:
        if self._reply is not None and not self._reply.done():
            self._reply.set_result(outcome)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 2.0)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader


PING = json.dumps({"type": "ping"})


async def open_socket(url: str, *, echo: bool = False, wait_room: bool = True) -> Socket:
    """A connection the server has finished setting up: the room was shown, or (a second
    connection of a live session is not shown it again: ``wait_room=False``) a ping was answered,
    so no set-up work of the server falls into a measurement. No keepalive pings: the bench sends
    only what it measures."""
    ws = await asyncio.wait_for(
        websockets.connect(url, open_timeout=None, max_queue=None, ping_interval=None), 10.0)
    sock = Socket(ws, echo=echo)
    if echo:
        return sock
    if wait_room:
        await asyncio.wait_for(sock.room_seen.wait(), 10.0)
    else:
        kind, detail = await asyncio.wait_for(sock.request(PING), 10.0)
        if detail != "pong":
            raise RuntimeError(f"no pong on a new connection: {kind} {detail}")
    return sock


@dataclass
class Phase:
    """What one measured phase cost the server."""

    cpu_s: float
    commands: int
    wall_s: float
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def us_per_command(self) -> float:
        return self.cpu_s / self.commands * 1e6

    def add(self, other: Phase) -> None:
        self.cpu_s += other.cpu_s
        self.commands += other.commands
        self.wall_s += other.wall_s
        for kind, n in other.outcomes.items():
            self.outcomes[kind] = self.outcomes.get(kind, 0) + n


async def quiet(pid: int) -> bool:
    """Wait (at most QUIET_TIMEOUT_S) until ``pid`` is idle; False when it never was."""
    deadline = time.monotonic() + QUIET_TIMEOUT_S
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        await asyncio.sleep(QUIET_SAMPLE_S)
        if cpu_seconds(pid) - before < QUIET_CPU_SHARE * QUIET_SAMPLE_S:
            return True
    return False


async def measure(pid: int, commands: int, work: Callable[[], Awaitable[dict[str, int]]],
                  idle_first: Sequence[int] = ()) -> Phase:
    """Server CPU around ``work`` (bounded by PHASE_TIMEOUT_S), once it and ``idle_first`` are idle."""
    for waited in {pid, *idle_first}:
        if not await quiet(waited):
            logging.getLogger(__name__).warning("pid %s never went idle before a measurement", waited)
    started, cpu_before = time.monotonic(), cpu_seconds(pid)
    outcomes = await asyncio.wait_for(work(), PHASE_TIMEOUT_S)
    return Phase(cpu_seconds(pid) - cpu_before, commands, time.monotonic() - started, outcomes)


async def lockstep(sockets: Sequence[Socket], frames: Sequence[str], count: int, start: int = 0) -> dict[str, int]:
    """``count`` requests, one at a time, the sockets and frames taken in turn from ``start`` on."""
    outcomes: dict[str, int] = {}
    for i in range(start, start + count):
        kind, _ = await sockets[i % len(sockets)].request(frames[i % len(frames)])
        outcomes[kind] = outcomes.get(kind, 0) + 1
    return outcomes


Work = Callable[[int, int], Awaitable[dict[str, int]]]
"""Runs ``count`` commands from index ``start`` on; returns the count of each outcome."""


@dataclass(frozen=True)
class Side:
    """One side of a paired measurement: whose CPU, how many commands, and how to run them."""

    pid: int
    commands: int
    work: Work


async def paired(subject: Side, floor: Side,
                 before_chunk: Callable[[], Awaitable[None]] | None = None) -> tuple[Phase, Phase]:
    """The subject and its floor in CHUNKS alternating chunks (a b, b a, a b ...), each measured
    once both servers are idle: a change in the machine's load during a repeat hits both alike.
    ``before_chunk`` (if any) runs before each chunk, outside the measurement."""
    totals = (Phase(0.0, 0, 0.0, {}), Phase(0.0, 0, 0.0, {}))
    sides = (subject, floor)
    for k in range(CHUNKS):
        for i in ((0, 1) if k % 2 == 0 else (1, 0)):
            side = sides[i]
            start = side.commands * k // CHUNKS
            size = side.commands * (k + 1) // CHUNKS - start
            if size:
                if before_chunk is not None:
                    await before_chunk()
                phase = await measure(side.pid, size, functools.partial(side.work, start, size),
                                      idle_first=(subject.pid, floor.pid))
                totals[i].add(phase)
    return totals


@dataclass
class World:
    """The players of the run: tokens signed with the server's key, rows in its database."""

    server: MythosServer
    tokens: dict[str, str]

    def ws_url(self, name: str) -> str:
        return f"ws://{HOST}:{self.server.port}/api/ws?token={self.tokens[name]}&session_id=bench-{name}"

    def sse_path(self, name: str) -> str:
        return f"/api/events?token={self.tokens[name]}&session_id=bench-{name}"


def add_players(server: MythosServer, rooms: dict[str, str]) -> dict[str, str]:
    """Write ``rooms`` (name -> room) as player rows; return name -> access token."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with contextlib.closing(sqlite3.connect(server.work_dir / "mythos.db", timeout=15)) as db:
        # "!" is no argon2 hash: these accounts cannot log in with a password, only with the token.
        db.executemany(
            "INSERT INTO players (username, username_key, password_hash, room_id, is_admin, is_muted, created_at)"
            " VALUES (?, ?, '!', ?, 0, 0, ?)",
            [(name, name.lower(), room, now) for name, room in rooms.items()])
        db.commit()
        ids = dict(db.execute("SELECT username, id FROM players"))
    signer = TokenService(server.jwt_secret, timedelta(hours=2))
    return {name: signer.issue(int(ids[name]), name) for name in rooms}


async def open_sse(port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """An event stream as EventSource opens it; returns once the server's first frame arrived."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"event stream refused: {head[:80]!r}")
    await asyncio.wait_for(reader.readuntil(b"\n\n"), 10.0)  # retry: ...
    return reader, writer


@dataclass
class CostFigures:
    """Per repeat: the echo floor and each command's server CPU, in microseconds."""

    look_us: list[float] = field(default_factory=list)
    look_floor_us: list[float] = field(default_factory=list)
    say_us: list[float] = field(default_factory=list)
    say_floor_us: list[float] = field(default_factory=list)
    refusal_us: list[float] = field(default_factory=list)
    refusal_floor_us: list[float] = field(default_factory=list)
    say_alone_us: list[float] = field(default_factory=list)
    say_alone_floor_us: list[float] = field(default_factory=list)
    """Each command's floor is the echo measured with it, interleaved (``paired``); the refusal's
    is one echo on each of as many connections, as the refusals are sent."""
    recipients: int = ROOM_PLAYERS
    counts: dict[str, int] = field(default_factory=dict)
    idle_players: int = 0
    rss_before_kib: int | None = None
    rss_after_kib: int | None = None
    idle_cpu_us_per_s: float | None = None
    notes: list[str] = field(default_factory=list)

    @staticmethod
    def ratios(costs: Sequence[float], floors: Sequence[float], allowance_us: float = 0.0) -> list[float]:
        """Each repeat's cost over that repeat's floor (minus an allowance in us first)."""
        return [(cost - allowance_us) / floor for cost, floor in zip(costs, floors, strict=True)]

    def per_recipient_note(self) -> str:
        """What one more player in the room costs a say, from the say heard by its speaker alone."""
        if not self.say_alone_us or len(self.say_alone_us) != len(self.say_us) or self.recipients < 2:
            return ""
        slopes = [(say - alone) / (self.recipients - 1) for say, alone in zip(self.say_us, self.say_alone_us,
                                                                                strict=True)]
        floors = statistics.median(self.say_alone_floor_us or self.say_floor_us)
        return (f"; a say heard by its speaker alone costs {statistics.median(self.say_alone_us):.0f} us, so "
                f"each further recipient {statistics.median(slopes):.0f} us "
                f"({statistics.median(slopes) / floors:.2f}x a whole echo), against the 5 us the goal allows")

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


async def _open_many(urls: Sequence[str], *, echo: bool = False) -> list[Socket]:
    sockets: list[Socket] = []
    for start in range(0, len(urls), OPEN_BATCH):
        sockets += await asyncio.gather(*(open_socket(url, echo=echo, wait_room=False)
                                          for url in urls[start:start + OPEN_BATCH]))
    return sockets


def _say_work(room: list[Socket], *, alone: bool = False) -> Work:
    """Say lines from the room's players in turn; a chunk ends when every player has every line
    (``alone``: the players are each alone in a room, and each hears only their own lines)."""

    async def work(start: int, count: int) -> dict[str, int]:
        frames = [command_frame(f"say {SAY_TEXT} {i}") for i in range(start, start + count)]
        expected = [s.chats + (sum(1 for i in range(start, start + count) if i % len(room) == n) if alone else count)
                    for n, s in enumerate(room)]
        outcomes = await lockstep(room, frames, count, start)
        # Polled: the counters of 20 sockets, checked every 5 ms, cost the server nothing.
        while any(s.chats < e for s, e in zip(room, expected, strict=True)):  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        return outcomes

    return work


async def _spend_budget(world: World, name: str) -> int:
    """Run looks until the first refusal: from then on, for the window, every command of ``name`` is refused."""
    spender = await open_socket(world.ws_url(name))
    frame = command_frame(COMMAND)
    try:
        for spent in range(RATE_BUDGET + 1):
            kind, error_type = await spender.request(frame)
            if kind == "refused":
                return spent
            if kind != "ok":
                raise RuntimeError(f"spending the rate budget: {kind} {error_type}")
    finally:
        await spender.close()
    raise RuntimeError(f"no refusal after {RATE_BUDGET + 1} commands")


async def _refusal_pair(world: World, name: str, echo_port: int, game_pid: int, echo_pid: int,
                        count: int) -> tuple[Phase, Phase]:
    """``count`` refused looks of ``name``, each the first command of its own connection of the
    player's session, paired with one echo on each of ``count`` connections (module docstring).

    A refused connection is held unread until the window has room: an hour on the refusal
    server, which outlives the run, so no held connection wakes during a measurement."""
    spent = await _spend_budget(world, name)
    refused: list[Socket] = []
    echoes: list[Socket] = []
    look = [command_frame(COMMAND)]
    try:
        refused = await _open_many([world.ws_url(name)] * count)
        echoes = await _open_many([f"ws://{HOST}:{echo_port}/ws"] * count, echo=True)
        refusal, floor = await paired(
            Side(game_pid, count, lambda start, size: lockstep(refused, look, size, start)),
            Side(echo_pid, count, lambda start, size: lockstep(echoes, look, size, start)))
    finally:
        await asyncio.gather(*(s.close() for s in [*refused, *echoes]))
    refusal.outcomes["budget"] = spent
    return refusal, floor


def _require(phase: Phase, kind: str, what: str) -> None:
    if phase.outcomes.get(kind, 0) != phase.commands:
        raise RuntimeError(f"{what}: expected {phase.commands} {kind}, got {phase.outcomes}")


async def run(looks: int, says: int, refusals: int, echoes: int, idle: int, repeats: int,
              work_dir: Path) -> CostFigures:
    figures = CostFigures(counts={"looks": looks, "says": says, "refusals": refusals, "echoes": echoes})
    echo_port = free_port(HOST)
    echo = ManagedProcess("echo", [sys.executable, "-m", "bench.echo_server", str(echo_port)],
                          work_dir / "echo.log", cwd=ROOT)
    env = {"RATE_LIMIT_MAX_COMMANDS": str(RATE_BUDGET), "RATE_LIMIT_WINDOW_SECONDS": str(RATE_WINDOW_S),
           "HEARTBEAT_INTERVAL": str(HEARTBEAT_INTERVAL_S)}
    refusal_env = {**REFUSAL_ENV, "HEARTBEAT_INTERVAL": str(HEARTBEAT_INTERVAL_S)}
    with NatsServer(work_dir, name="cost-nats") as nats, \
            MythosServer(work_dir, work_dir / "logs", nats_url=nats.url, name="cost-mythos",
                         extra_env=env) as server, \
            MythosServer(work_dir, work_dir / "logs", nats_url=nats.url, name="cost-refusals",
                         extra_env=refusal_env) as refusing:
        echo.start()
        try:
            wait_until(lambda: httpx.get(f"http://{HOST}:{echo_port}/health", timeout=2).status_code == 200,
                       timeout=30, what="echo server", alive=lambda: echo.running)
            await _run_phases(figures, server, refusing, echo, echo_port, looks, says, refusals, echoes, idle,
                              repeats)
        finally:
            echo.stop()
    return figures


async def _run_phases(figures: CostFigures, server: MythosServer, refusing: MythosServer, echo: ManagedProcess,
                      echo_port: int, looks: int, says: int, refusals: int, echoes: int, idle: int,
                      repeats: int) -> None:
    names = {f"Room{i}": ROOM for i in range(ROOM_PLAYERS)}
    names.update({f"Alone{i}": room_id for i, room_id in enumerate(ALONE_ROOMS)})
    idle_names = {f"Idle{i}": IDLE_ROOMS[i % len(IDLE_ROOMS)] for i in range(idle)}
    world = World(server, add_players(server, {**names, **idle_names}))
    # A player per repeat on the refusal server: its budget is spent for the rest of the run.
    flooders = World(refusing, add_players(refusing, {f"Flooder{r}": FLOOD_ROOM for r in range(repeats)}))
    game_pid, refusing_pid, echo_pid = server.process.pid, refusing.process.pid, echo.pid
    if game_pid is None or refusing_pid is None or echo_pid is None:
        raise RuntimeError("a server is not running")
    room = [await open_socket(world.ws_url(f"Room{i}")) for i in range(ROOM_PLAYERS)]
    alone = [await open_socket(world.ws_url(f"Alone{i}")) for i in range(len(ALONE_ROOMS))]
    echo_socket = await open_socket(f"ws://{HOST}:{echo_port}/ws", echo=True)
    look = [command_frame(COMMAND)]
    try:
        # Warm-up, not measured: first calls, caches, the allocator's pools.
        await lockstep([echo_socket], look, 200)
        await lockstep(room, look, 100)
        await _say_work(room)(0, 20)
        idle_before = cpu_seconds(game_pid)
        await asyncio.sleep(2.0)
        figures.idle_cpu_us_per_s = (cpu_seconds(game_pid) - idle_before) / 2.0 * 1e6
        log = logging.getLogger(__name__)
        echo_side = Side(echo_pid, echoes, lambda start, size: lockstep([echo_socket], look, size, start))
        for repeat in range(repeats):
            pairs: dict[str, tuple[Phase, Phase]] = {
                "look": await paired(
                    Side(game_pid, looks, lambda start, size: lockstep(room, look, size, start)), echo_side),
                "say": await paired(Side(game_pid, says, _say_work(room)), echo_side),
                "say_alone": await paired(Side(game_pid, says, _say_work(alone, alone=True)), echo_side),
                "refusal": await _refusal_pair(flooders, f"Flooder{repeat}", echo_port, refusing_pid, echo_pid,
                                               refusals),
            }
            for name, (subject, floor) in pairs.items():
                _require(subject, "refused" if name == "refusal" else "ok", f"{name} repeat {repeat}")
                _require(floor, "ok", f"{name}'s echo floor, repeat {repeat}")
                getattr(figures, f"{name}_us").append(subject.us_per_command)
                getattr(figures, f"{name}_floor_us").append(floor.us_per_command)
                log.info("%s: %.1f us/command (%.2f s wall), floor %.1f us/echo", name, subject.us_per_command,
                         subject.wall_s, floor.us_per_command)
        if idle:
            await _idle_phase(figures, world, game_pid, list(idle_names))
    finally:
        for sock in [*room, *alone, echo_socket]:
            await sock.close()


async def _idle_phase(figures: CostFigures, world: World, pid: int, names: list[str]) -> None:
    await quiet(pid)
    figures.rss_before_kib = rss_kib(pid)
    sockets: list[Socket] = []
    streams: list[asyncio.StreamWriter] = []
    try:
        for start in range(0, len(names), OPEN_BATCH):
            batch = names[start:start + OPEN_BATCH]
            streams += [w for _, w in await asyncio.gather(
                *(open_sse(world.server.port, world.sse_path(n)) for n in batch))]
            sockets += await asyncio.gather(*(open_socket(world.ws_url(n), wait_room=False) for n in batch))
        await quiet(pid)
        figures.rss_after_kib = rss_kib(pid)
        figures.idle_players = len(names)
    finally:
        for writer in streams:
            writer.close()
        await asyncio.gather(*(s.close() for s in sockets))


def kpis(figures: CostFigures) -> list[KPIResult]:
    """The four catalogue KPIs: each CPU figure as a ratio to the echo floor of its repeat.

    A refusal is the first command of its connection (the module docstring says why), so its
    floor is the echo driven the same way: one echo on each of as many connections."""
    out = []
    reps = len(figures.look_us)
    warm = "bare FastAPI/uvicorn WebSocket echo"
    cold = "bare FastAPI/uvicorn WebSocket echo, one per connection as the refusals,"
    for kpi_id, costs, count, allowance, what, floors, floor_what in (
        ("server_cpu_us_per_look", figures.look_us, figures.counts["looks"], 0.0, "look",
         figures.look_floor_us, warm),
        ("server_cpu_us_per_refusal", figures.refusal_us, figures.counts["refusals"], 0.0, "refused look",
         figures.refusal_floor_us, cold),
        ("server_cpu_us_per_say", figures.say_us, figures.counts["says"],
         PER_RECIPIENT_ALLOWANCE_US * figures.recipients, f"say to {figures.recipients} players",
         figures.say_floor_us, warm),
    ):
        ratios = figures.ratios(costs, floors, allowance)
        raw = statistics.median(figures.ratios(costs, floors))
        extra = (f"; the value is (cost - {allowance:.0f} us allowed for {figures.recipients} recipients)"
                 f" / floor, raw ratio {raw:.2f}x{figures.per_recipient_note()}") if allowance else ""
        evidence = (
            f"bench/server_cost.py: {statistics.median(costs):.0f} us of server CPU per {what} "
            f"(repeats {', '.join(f'{c:.0f}' for c in costs)}) vs {statistics.median(floors):.0f} us per "
            f"{floor_what} interleaved with it ({', '.join(f'{e:.0f}' for e in floors)}); "
            f"{statistics.median(ratios):.2f}x the floor, median of {reps} paired repeats of {count} "
            f"commands in {CHUNKS} alternating chunks (process CPU clock, ns){extra}")
        out.append(kpi_from_catalogue(kpi_id, statistics.median(ratios), evidence, sample=count * reps))
    if figures.rss_before_kib is None or figures.rss_after_kib is None or not figures.idle_players:
        out.append(kpi_from_catalogue("server_rss_mb_per_1000_idle_players", None,
                                      "not measured: no idle players connected"))
    else:
        growth_mib = (figures.rss_after_kib - figures.rss_before_kib) / 1024
        per_1000 = growth_mib * 1000 / figures.idle_players
        out.append(kpi_from_catalogue(
            "server_rss_mb_per_1000_idle_players", per_1000,
            f"bench/server_cost.py: VmRSS {figures.rss_before_kib / 1024:.1f} -> "
            f"{figures.rss_after_kib / 1024:.1f} MiB with {figures.idle_players} idle players connected "
            f"(each a WebSocket and an event stream in one session, as the web client holds them)",
            sample=figures.idle_players))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--looks", type=int, default=1500)
    parser.add_argument("--says", type=int, default=300)
    parser.add_argument("--refusals", type=int, default=1000)
    parser.add_argument("--echoes", type=int, default=2000)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    parser.add_argument("--no-kpi", action="store_true", help="print the figures, write no KPI file")
    args = parser.parse_args(argv)
    # Conservative: as if every repeat fell into one rate window.
    per_player = max(((args.looks + args.says) * args.repeats + 120) / ROOM_PLAYERS,
                     (args.says * args.repeats + 20) / len(ALONE_ROOMS))
    if per_player >= RATE_BUDGET:
        parser.error(f"{per_player:.0f} commands per room player exceed the run's rate budget {RATE_BUDGET}")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="mythos-cost-") as tmp:
        figures = asyncio.run(run(args.looks, args.says, args.refusals, args.echoes, args.idle, args.repeats,
                                  Path(tmp)))
    finished = datetime.now(UTC)
    results = kpis(figures)
    print(json.dumps(figures.to_dict(), indent=2))
    for kpi in results:
        print(f"{kpi.id} = {kpi.value} {kpi.unit} (passed={kpi.passed}, goal met={kpi.goal_met}): {kpi.evidence}")
    if not args.no_kpi:
        path = write_suite("bench", results, started=started, finished=finished, out_dir=args.out_dir, merge=True)
        print(f"-> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
