"""Compliant players for the abuse suite, in their own process: ``python -m harness.abuse.compliant CONFIG``.

They run apart from the attackers so that an attacker's busy event loop never shows up as a
compliant player's latency. Each player keeps one WebSocket, waits for every reply before its
next command (so replies match by order and by the echoed command), and plays at a steady,
polite pace: movers walk north and back, stayers stay in the start room and listen. Every round
trip and every event that reaches them goes to a JSON-lines file, one line flushed at a time,
so the harness can read the figures of one attack while the next runs.

Lines: ``{"k": "cmd", "t": send epoch, "p": player, "v": verb, "ms": round trip, "o": outcome}``
with outcome ``ok``, ``fail:<error_type>`` (the game said no: no exit, unknown verb),
``refused:<error_type>`` (an error frame), ``timeout`` or ``lost``; ``{"k": "ev", ...}`` for a
received event with its data; ``{"k": "conn", ...}`` for connects and losses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode, urlsplit

import websockets
from websockets.asyncio.client import ClientConnection

__all__ = ["PLAYS", "CompliantConfig", "main"]

USER_AGENT = "mythos-abuse-compliant"
PLAYS: dict[str, tuple[str, ...]] = {
    "mover": ("look", "go north", "look", "go south", "say {name} is exploring"),
    "stayer": ("look", "say {name} keeps watch", "who"),
}
"""What each role repeats: well inside the rate limit, the moves always come back."""
RECONNECT_PAUSE_S = 0.5
MAX_RECONNECTS = 5
RECORDED_EVENTS = frozenset({"chat", "player_entered", "player_left", "room_state", "system"})


@dataclass(frozen=True, slots=True)
class CompliantConfig:
    base_url: str
    players: Sequence[dict[str, str]]
    out: Path
    ready_file: Path
    stop_file: Path
    interval_s: float = 0.3
    command_timeout_s: float = 5.0
    max_s: float = 600.0

    @classmethod
    def load(cls, path: Path) -> CompliantConfig:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(base_url=data["base_url"], players=data["players"], out=Path(data["out"]),
                   ready_file=Path(data["ready_file"]), stop_file=Path(data["stop_file"]),
                   interval_s=float(data.get("interval_s", 0.3)),
                   command_timeout_s=float(data.get("command_timeout_s", 5.0)),
                   max_s=float(data.get("max_s", 600.0)))


def ws_url(base_url: str, token: str, session_id: str) -> str:
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}/api/ws?{urlencode({'token': token, 'session_id': session_id})}"


class _Out:
    """One JSON line per record, flushed at once (the harness reads the file while we run)."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle

    def write(self, record: dict[str, Any]) -> None:
        self.handle.write(json.dumps(record, ensure_ascii=True, separators=(",", ":")) + "\n")
        self.handle.flush()


class Player:
    def __init__(self, spec: dict[str, str], cfg: CompliantConfig, out: _Out) -> None:
        self.name = spec["name"]
        self.role = spec["role"]
        self.url = ws_url(cfg.base_url, spec["token"], spec["session_id"])
        self.cfg = cfg
        self.out = out
        self.ws: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.room_seen = asyncio.Event()
        self.pending: tuple[str, asyncio.Future[str]] | None = None
        self.closing = False

    async def connect(self) -> None:
        self.room_seen.clear()
        self.ws = await websockets.connect(self.url, user_agent_header=USER_AGENT, open_timeout=10,
                                           max_size=None)
        self.reader = asyncio.create_task(self._read(self.ws))
        await asyncio.wait_for(self.room_seen.wait(), 10)
        self.out.write({"k": "conn", "t": time.time(), "p": self.name, "o": "connected"})

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                self._on_frame(raw if isinstance(raw, str) else raw.decode("utf-8", "replace"))
        except websockets.WebSocketException:
            pass
        finally:
            outcome = "closed" if self.closing else "lost"
            self.out.write({"k": "conn", "t": time.time(), "p": self.name, "o": outcome, "code": ws.close_code})
            if self.pending is not None and not self.pending[1].done():
                self.pending[1].set_result("lost")

    def _on_frame(self, raw: str) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            return
        if not isinstance(frame, dict):
            return
        now = time.time()
        if frame.get("type") == "error":
            self._resolve(f"refused:{frame.get('error_type')}")
            return
        kind = frame.get("event_type")
        raw_data = frame.get("data")
        data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
        if kind == "room_state":
            self.room_seen.set()
        if kind == "command_result":
            if self.pending is not None and data.get("command") == self.pending[0]:
                self._resolve("ok" if data.get("ok", True) else f"fail:{data.get('error_type')}")
            return
        if kind in RECORDED_EVENTS:
            if kind == "room_state":  # the room text is the world's, not another player's
                data = {"occupants": data.get("occupants")}
            self.out.write({"k": "ev", "t": now, "p": self.name, "e": kind, "d": data})

    def _resolve(self, outcome: str) -> None:
        if self.pending is not None and not self.pending[1].done():
            self.pending[1].set_result(outcome)

    async def command(self, command: str) -> None:
        assert self.ws is not None
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.pending = (command, future)
        sent = time.time()
        started = time.perf_counter()
        try:
            await self.ws.send(json.dumps({"type": "command", "data": {"command": command}}))
            outcome = await asyncio.wait_for(future, self.cfg.command_timeout_s)
        except TimeoutError:
            outcome = "timeout"
        except websockets.WebSocketException:
            outcome = "lost"
        finally:
            self.pending = None
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        self.out.write({"k": "cmd", "t": sent, "p": self.name, "v": command.split(" ", 1)[0],
                        "ms": round(elapsed_ms, 3), "o": outcome})

    async def play(self, stop: asyncio.Event) -> None:
        script = PLAYS[self.role]
        step = reconnects = 0
        while not stop.is_set():
            if self.ws is None or self.ws.close_code is not None:
                if reconnects >= MAX_RECONNECTS:
                    return
                reconnects += 1
                await asyncio.sleep(RECONNECT_PAUSE_S)
                with contextlib.suppress(Exception):
                    await self.connect()
                continue
            await self.command(script[step % len(script)].format(name=self.name))
            step += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.cfg.interval_s)

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 2)
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader


async def _watch_stop(cfg: CompliantConfig, stop: asyncio.Event) -> None:
    deadline = time.monotonic() + cfg.max_s
    # The harness asks us to stop by creating a file: nothing to await but the file system.
    while not cfg.stop_file.exists() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    stop.set()


async def run(cfg: CompliantConfig) -> None:
    with cfg.out.open("a", encoding="utf-8") as handle:
        out = _Out(handle)
        players = [Player(spec, cfg, out) for spec in cfg.players]
        await asyncio.gather(*(p.connect() for p in players))
        cfg.ready_file.write_text(str(time.time()), encoding="utf-8")
        stop = asyncio.Event()
        watcher = asyncio.create_task(_watch_stop(cfg, stop))
        try:
            await asyncio.gather(*(p.play(stop) for p in players))
        finally:
            watcher.cancel()
            await asyncio.gather(*(p.close() for p in players))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m harness.abuse.compliant CONFIG.json", file=sys.stderr)
        return 2
    asyncio.run(run(CompliantConfig.load(Path(args[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
