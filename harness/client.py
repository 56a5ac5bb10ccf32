"""Scenario players: real accounts and real WebSocket sessions that record every operation.

A player registers with an invite code, logs in, opens ``/api/ws`` and says numbered lines in
its room. What it does goes into the history as invoke then ok / fail / info; every chat event
that reaches it is recorded as a ``recv``. Nothing is ever dropped: a timeout or a dropped
connection becomes ``info`` (outcome unknown), never a silent retry.

Acknowledgement: ``say`` is ok when the server's ``command_result`` for that exact command says
``ok``; an error frame or ``ok: false`` is a fail (the server refused, so the line was not sent),
recorded with the DLQ id when the server says it queued the line for replay.

A chat event counts as the reception of a line only when its content is exactly that line's
token and its sender is the token's sender (:func:`harness.history.chat_token`): a token quoted
inside someone else's text is not a reception.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from harness.history import F, History, chat_token, message_token

__all__ = ["PlayerTimeouts", "ScenarioPlayer", "probe_health"]

USER_AGENT = "mythos-harness"
CHAT_EVENTS = frozenset({"chat"})


@dataclass(frozen=True, slots=True)
class PlayerTimeouts:
    http_s: float = 5.0
    connect_s: float = 5.0
    command_s: float = 5.0
    close_s: float = 2.0


@dataclass
class _Pending:
    command: str
    future: asyncio.Future[tuple[str, dict[str, Any]]]


@dataclass
class ScenarioPlayer:
    """One player. ``name`` must be alphanumeric: it goes into message tokens."""

    name: str
    base_url: str
    history: History
    invite_code: str
    server: str = ""
    """The game server this player's URL leads to (recorded on connect, for per-server figures)."""
    password: str = field(default_factory=lambda: uuid.uuid4().hex)
    timeouts: PlayerTimeouts = field(default_factory=PlayerTimeouts)
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    room: str | None = None
    seq: int = 0
    token: str | None = None
    _ws: ClientConnection | None = field(default=None, init=False, repr=False)
    _reader: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _pending: _Pending | None = field(default=None, init=False, repr=False)
    _command_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)
    _room_seen: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    # ------------------------------------------------------------ account
    async def register_and_login(self) -> None:
        """Create the account (once) and get a token; raises on failure (setup, not workload)."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeouts.http_s,
                                     headers={"User-Agent": USER_AGENT}) as http:
            response = await http.post("/auth/register", json={
                "username": self.name, "password": self.password, "invite_code": self.invite_code})
            if response.status_code not in (200, 201, 409):
                raise RuntimeError(f"register {self.name}: HTTP {response.status_code} {response.text[:200]}")
            response = await http.post("/auth/login", json={"username": self.name, "password": self.password})
            response.raise_for_status()
            self.token = str(response.json()["access_token"])

    # ------------------------------------------------------------ session
    def _ws_url(self) -> str:
        base = self.base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        return f"{base}/api/ws?token={self.token}&session_id={self.session_id}"

    async def connect(self) -> bool:
        """Open the WebSocket and wait for the room state; recorded as ``connect``."""
        if self.token is None:
            raise RuntimeError("register_and_login first")
        invocation = self.history.invoke(self.name, F.CONNECT, {"url": self.base_url})
        self._room_seen.clear()
        try:
            self._ws = await asyncio.wait_for(
                websockets.connect(self._ws_url(), user_agent_header=USER_AGENT, open_timeout=None),
                self.timeouts.connect_s)
            self._reader = asyncio.create_task(self._read(self._ws), name=f"reader-{self.name}")
            await asyncio.wait_for(self._room_seen.wait(), self.timeouts.connect_s)
        except (TimeoutError, OSError, websockets.WebSocketException) as exc:
            self.history.info(invocation, f"{type(exc).__name__}: {exc}")
            await self._drop()
            return False
        self.history.ok(invocation, {"url": self.base_url, "room": self.room, "server": self.server})
        return True

    async def close(self, reason: str = "closed by scenario") -> None:
        if self._ws is not None:
            self.history.observe(self.name, F.DISCONNECT, {"reason": reason})
        await self._drop()

    async def _drop(self) -> None:
        ws, reader = self._ws, self._reader
        self._ws = self._reader = None
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), self.timeouts.close_s)
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    @property
    def connected(self) -> bool:
        return self._ws is not None

    # ------------------------------------------------------------ commands
    async def say(self) -> str:
        """Say the next numbered line; returns the op type recorded (ok, fail or info)."""
        self.seq += 1
        token = message_token(self.name, self.seq)
        value = {"token": token, "seq": self.seq, "room": self.room}
        invocation = self.history.invoke(self.name, F.SAY, value)
        outcome, detail = await self._command(f"say {token}")
        if outcome == "ok":
            self.history.ok(invocation, {**(invocation.value or {}), "message_id": detail.get("message_id")})
        elif outcome == "fail":
            dlq_id = detail.get("dlq_id")
            self.history.fail(invocation, str(detail.get("error_type") or detail.get("text") or "refused"),
                              {**(invocation.value or {}), "queued": bool(detail.get("queued")) and bool(dlq_id),
                               "dlq_id": dlq_id})
        else:
            self.history.info(invocation, str(detail.get("error", "unknown")))
        return outcome

    async def probe(self, command: str = "look") -> str:
        """A non-chat command, for availability while NATS is faulted."""
        invocation = self.history.invoke(self.name, F.PROBE, {"kind": command})
        outcome, detail = await self._command(command)
        if outcome == "ok":
            self.history.ok(invocation)
        elif outcome == "fail":
            self.history.fail(invocation, str(detail.get("error_type") or "refused"))
        else:
            self.history.info(invocation, str(detail.get("error", "unknown")))
        return outcome

    async def _command(self, command: str) -> tuple[str, dict[str, Any]]:
        async with self._command_lock:  # one outstanding command: replies match without ids
            if self._ws is None:
                return "info", {"error": "not connected"}
            future: asyncio.Future[tuple[str, dict[str, Any]]] = asyncio.get_running_loop().create_future()
            self._pending = _Pending(command, future)
            try:
                await asyncio.wait_for(
                    self._ws.send(json.dumps({"type": "command", "data": {"command": command}})),
                    self.timeouts.command_s)
                return await asyncio.wait_for(future, self.timeouts.command_s)
            except (TimeoutError, OSError, websockets.WebSocketException) as exc:
                return "info", {"error": f"{type(exc).__name__}: {exc}"}
            finally:
                self._pending = None

    # ------------------------------------------------------------ incoming
    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                self._on_frame(frame if isinstance(frame, str) else frame.decode())
        except websockets.WebSocketException:
            pass
        finally:
            if self._ws is ws:  # an unexpected drop, not our own close
                self.history.observe(self.name, F.DISCONNECT, {"reason": "connection lost"})
                self._ws = None
            if self._pending is not None and not self._pending.future.done():
                self._pending.future.set_result(("info", {"error": "connection lost"}))

    def _on_frame(self, frame: str) -> None:
        try:
            message = json.loads(frame)
        except json.JSONDecodeError:
            return
        if not isinstance(message, dict):
            return
        if message.get("type") == "error":
            self._resolve("fail", message)
            return
        event_type = message.get("event_type")
        raw_data = message.get("data")
        data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
        if message.get("room_id") and event_type in ("room_state", "command_result"):
            self.room = str(message["room_id"])
            self._room_seen.set()
        if event_type in CHAT_EVENTS:
            token = chat_token(data)
            if token is not None:
                sender, seq = token.removeprefix("msg_").rsplit("_", 1)
                self.history.observe(self.name, F.RECV, {
                    "token": token, "sender": sender, "seq": int(seq),
                    "sequence_number": message.get("sequence_number")})
        elif (event_type == "command_result" and self._pending is not None
              and data.get("command") == self._pending.command):
            self._resolve("ok" if data.get("ok", True) else "fail", data)

    def _resolve(self, outcome: str, detail: dict[str, Any]) -> None:
        if self._pending is not None and not self._pending.future.done():
            self._pending.future.set_result((outcome, detail))


async def probe_health(history: History, base_url: str, process: str = "prober",
                       http_timeout_s: float = 2.0) -> str:
    """GET /api/health as an availability probe: 200 is answered, anything else is not."""
    invocation = history.invoke(process, F.PROBE, {"kind": "health", "url": base_url})
    try:
        async with httpx.AsyncClient(timeout=http_timeout_s, headers={"User-Agent": USER_AGENT}) as http:
            response = await http.get(f"{base_url}/api/health")
    except httpx.TimeoutException as exc:
        history.info(invocation, f"timeout: {exc}")
        return "info"
    except httpx.HTTPError as exc:
        history.fail(invocation, f"{type(exc).__name__}: {exc}")
        return "fail"
    if response.status_code == 200:
        history.ok(invocation, {"kind": "health", "body": response.json()})
        return "ok"
    history.fail(invocation, f"HTTP {response.status_code}")
    return "fail"
