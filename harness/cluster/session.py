"""A probe session: one player's WebSocket on one game server, as the one-world workloads see it.

A chatting :class:`harness.client.ScenarioPlayer` records every line it says and hears. A probe
session records only what the session guarantees are about: did the socket open and get its
room, was it evicted (the ``session_evicted`` notice, or close 4409) or refused (an error frame
then close 1013 while the server cannot check the session registry or reach the database), and
does it still answer a command. Its opening is a ``session`` operation and its eviction an
``evicted`` observation (:class:`harness.cluster.ops.W`); commands are recorded by the workload
that sends them, which knows what they mean.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import websockets
from websockets.asyncio.client import ClientConnection

from harness.cluster.ops import W
from harness.history import History

__all__ = ["CLOSE_EVICTED", "CLOSE_TRY_AGAIN", "ProbeSession", "Reply"]

CLOSE_EVICTED = 4409
"""docs/protocol.md: the session was replaced by a login elsewhere."""
CLOSE_TRY_AGAIN = 1013
"""docs/protocol.md: a new socket the server cannot admit now (registry or database unreachable)."""
USER_AGENT = "mythos-harness"
OPEN_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 3.0
CLOSE_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class Reply:
    """The server's answer to one command: its ``command_result`` data, an error frame, or nothing."""

    kind: Literal["result", "error", "none"]
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def error_type(self) -> str | None:
        found = self.data.get("error_type")
        return None if found is None else str(found)

    @property
    def ok(self) -> bool:
        return self.kind == "result" and self.data.get("ok", True) is True


@dataclass
class ProbeSession:
    """``session_id`` on ``base_url`` for the holder of ``token``; ``tags`` go into every record."""

    history: History
    process: str
    base_url: str
    token: str
    session_id: str
    tags: dict[str, Any] = field(default_factory=dict)
    room: str | None = None
    evicted_at: float | None = None
    close_code: int | None = None
    refusal: dict[str, Any] | None = None
    """The error frame that ended the socket before its room arrived (``unavailable``,
    ``database_unavailable``), with ``retry_after``."""
    _ws: ClientConnection | None = field(default=None, init=False, repr=False)
    _reader: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _room_seen: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _closed: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _pending: tuple[str, asyncio.Future[Reply]] | None = field(default=None, init=False, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    def _url(self) -> str:
        base = self.base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        return f"{base}/api/ws?token={self.token}&session_id={self.session_id}"

    async def open(self, timeout_s: float = OPEN_TIMEOUT_S) -> str:
        """Open the socket and wait for its room; recorded as a ``session`` operation.

        Returns the outcome: "live", "evicted" (replaced before or just after its room came),
        "refused" (an error frame and close 1013), "closed" (any other close) or "timeout".
        """
        invocation = self.history.invoke(self.process, W.SESSION, {**self.tags, "session_id": self.session_id})
        try:
            self._ws = await asyncio.wait_for(
                websockets.connect(self._url(), user_agent_header=USER_AGENT, open_timeout=None), timeout_s)
            self._reader = asyncio.create_task(self._read(self._ws), name=f"probe-{self.process}")
            room, closed = asyncio.ensure_future(self._room_seen.wait()), asyncio.ensure_future(self._closed.wait())
            try:
                await asyncio.wait({room, closed}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in (room, closed):
                    waiter.cancel()
        except (TimeoutError, OSError, websockets.WebSocketException) as exc:
            self.history.info(invocation, f"{type(exc).__name__}: {exc}")
            return "timeout"
        outcome = self._outcome()
        done = {**(invocation.value or {}), "outcome": outcome, "room": self.room,
                "close_code": self.close_code, "error_type": (self.refusal or {}).get("error_type")}
        if outcome == "live":
            self.history.ok(invocation, done)
        elif outcome == "timeout":
            self.history.info(invocation, "no room state in time", done)
        else:
            self.history.fail(invocation, outcome, done)
        return outcome

    def _outcome(self) -> str:
        if self.evicted_at is not None:
            return "evicted"
        if self._room_seen.is_set():
            return "live"
        if self.refusal is not None or self.close_code == CLOSE_TRY_AGAIN:
            return "refused"
        return "closed" if self._closed.is_set() else "timeout"

    @property
    def open_now(self) -> bool:
        """The socket is open as far as this side knows (no close seen)."""
        return self._ws is not None and not self._closed.is_set()

    async def wait_closed(self, timeout_s: float) -> bool:
        """Wait until the server closed the socket; False when it is still open after ``timeout_s``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), timeout_s)
        return self._closed.is_set()

    async def command(self, text: str, timeout_s: float = COMMAND_TIMEOUT_S) -> Reply:
        """Send one command and wait for its ``command_result`` or an error frame (one at a time)."""
        async with self._lock:
            if not self.open_now or self._ws is None:
                return Reply("none", {"error": "closed"})
            future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
            self._pending = (text, future)
            try:
                await asyncio.wait_for(self._ws.send(json.dumps({"type": "command", "data": {"command": text}})),
                                       timeout_s)
                return await asyncio.wait_for(future, timeout_s)
            except (TimeoutError, OSError, websockets.WebSocketException) as exc:
                return Reply("none", {"error": f"{type(exc).__name__}: {exc}"})
            finally:
                self._pending = None

    async def close(self) -> None:
        ws, reader = self._ws, self._reader
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), CLOSE_TIMEOUT_S)
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        self._closed.set()

    # ------------------------------------------------------------ incoming
    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                self._on_frame(frame if isinstance(frame, str) else frame.decode(errors="replace"))
        except websockets.WebSocketException:
            pass
        finally:
            self.close_code = ws.close_code
            if self.close_code == CLOSE_EVICTED:
                self._evicted(notice=False)
            self._closed.set()
            self._resolve(Reply("none", {"error": "connection closed", "close_code": self.close_code}))

    def _on_frame(self, frame: str) -> None:
        try:
            message = json.loads(frame)
        except json.JSONDecodeError:
            return
        if not isinstance(message, dict):
            return
        if message.get("type") == "error":
            if self._pending is None and not self._room_seen.is_set():
                self.refusal = {k: message.get(k) for k in ("error_type", "message", "retry_after")}
            self._resolve(Reply("error", {k: v for k, v in message.items() if k != "type"}))
            return
        event = message.get("event_type")
        raw = message.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if event == "session_evicted":
            self._evicted(notice=True)
        elif event == "room_state":
            self.room = str(message.get("room_id") or "") or self.room
            self._room_seen.set()
        elif event == "command_result" and self._pending is not None and data.get("command") == self._pending[0]:
            self._resolve(Reply("result", dict(data)))

    def _evicted(self, *, notice: bool) -> None:
        if self.evicted_at is not None:
            return
        op = self.history.observe(self.process, W.EVICTED, {**self.tags, "session_id": self.session_id,
                                                            "notice": notice, "close_code": self.close_code})
        self.evicted_at = op.time

    def _resolve(self, reply: Reply) -> None:
        if self._pending is not None and not self._pending[1].done():
            self._pending[1].set_result(reply)
