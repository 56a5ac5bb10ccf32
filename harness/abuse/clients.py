"""The attackers' side of the wire: a WebSocket that sends without waiting, and logins from a chosen address.

Every server answer is counted by kind, never dropped: a flood's figures are what came back.
Logins can come from any 127.0.0.0/8 address (Linux answers the whole block on loopback), so
an attacker and the real owner of an account really do arrive from different addresses while
the server still listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

__all__ = ["USER_AGENT", "LoginAnswer", "WsAttacker", "frame_data", "http_client", "login", "register", "ws_url"]

USER_AGENT = "mythos-abuse"
HTTP_TIMEOUT_S = 10.0
ANSWER_WAIT_S = 0.25
"""How long a sender waits for answers before sending past its outstanding bound anyway: a
server that stops answering junk is allowed to, and the flood must still end on time."""


def frame_data(frame: dict[str, Any] | None) -> dict[str, Any]:
    """The ``data`` object of a server frame, or an empty one."""
    data = frame.get("data") if frame is not None else None
    return data if isinstance(data, dict) else {}


def ws_url(base_url: str, token: str, session_id: str) -> str:
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}/api/ws?{urlencode({'token': token, 'session_id': session_id})}"


def http_client(base_url: str, *, local_address: str | None = None,
                timeout: float = HTTP_TIMEOUT_S) -> httpx.AsyncClient:
    """An HTTP client whose connections leave from ``local_address`` (e.g. 127.0.0.2)."""
    transport = httpx.AsyncHTTPTransport(local_address=local_address) if local_address else None
    return httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport,
                             headers={"User-Agent": USER_AGENT})


@dataclass(frozen=True, slots=True)
class LoginAnswer:
    status: int
    """HTTP status, or 0 when no answer came (timeout, connection error)."""
    retry_after_s: float | None
    elapsed_ms: float
    token: str | None = None

    @property
    def evaluated(self) -> bool:
        """The server judged the password (it ran the hash): 200 or 401."""
        return self.status in (200, 401)

    @property
    def refused(self) -> bool:
        return self.status in (429, 503)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


async def login(client: httpx.AsyncClient, username: str, password: str) -> LoginAnswer:
    started = time.perf_counter()
    try:
        response = await client.post("/auth/login", json={"username": username, "password": password})
    except httpx.HTTPError:
        return LoginAnswer(0, None, (time.perf_counter() - started) * 1000.0)
    elapsed = (time.perf_counter() - started) * 1000.0
    token = None
    if response.status_code == 200:
        token = str(response.json().get("access_token"))
    return LoginAnswer(response.status_code, _retry_after(response), elapsed, token)


async def register(client: httpx.AsyncClient, username: str, password: str, invite: str) -> httpx.Response:
    return await client.post("/auth/register",
                             json={"username": username, "password": password, "invite_code": invite})


@dataclass
class WsAttacker:
    """One attacker connection: sends frames back to back, counts what comes back by kind.

    ``max_outstanding`` bounds frames sent but not yet answered, so the flood measures the
    server rather than filling the client's own buffers.
    """

    url: str
    max_outstanding: int = 64
    sent: int = 0
    answered: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    closes: list[tuple[int | None, str]] = field(default_factory=list)
    reconnects: int = 0
    _ws: ClientConnection | None = None
    _reader: asyncio.Task[None] | None = None
    _progress: asyncio.Event = field(default_factory=asyncio.Event)
    replies: list[dict[str, Any]] = field(default_factory=list)
    keep_replies: bool = False
    _closing: bool = False

    @property
    def open(self) -> bool:
        return self._ws is not None and self._ws.close_code is None

    async def connect(self) -> None:
        self._closing = False
        self._ws = await websockets.connect(self.url, user_agent_header=USER_AGENT, open_timeout=10,
                                            max_size=None, ping_interval=None)
        self._reader = asyncio.create_task(self._read(self._ws))

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                self._count(raw if isinstance(raw, str) else raw.decode("utf-8", "replace"))
        except websockets.WebSocketException:
            pass
        finally:
            if not self._closing:  # the server ended it, not us
                self.closes.append((ws.close_code, ws.close_reason or ""))
            self._progress.set()

    def _count(self, raw: str) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            self.answers["unparsable"] += 1
            return
        if not isinstance(frame, dict):
            return
        if frame.get("type") == "error":
            kind = f"error:{frame.get('error_type')}"
        elif frame.get("type") == "pong":
            kind = "pong"
        elif frame.get("event_type") == "command_result":
            data = frame_data(frame)
            kind = "result:ok" if data.get("ok", True) else f"result:{data.get('error_type')}"
        else:
            self.answers[f"event:{frame.get('event_type')}"] += 1
            return
        self.answers[kind] += 1
        self.answered += 1
        if self.keep_replies:
            self.replies.append(frame)
        self._progress.set()

    async def send(self, text: str) -> bool:
        """Send one frame; False when the connection is gone (the caller may reconnect)."""
        while self.open and self.sent - self.answered >= self.max_outstanding:
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), ANSWER_WAIT_S)
            if self.sent - self.answered >= self.max_outstanding:
                break
        if not self.open:
            return False
        assert self._ws is not None
        try:
            await self._ws.send(text)
        except websockets.WebSocketException:
            return False
        self.sent += 1
        return True

    async def command(self, command: str, *, patience_s: float = 5.0) -> dict[str, Any] | None:
        """Send one command and wait for its answer (the next reply frame); None on timeout.

        json.dumps escapes non-ASCII (ensure_ascii), so a lone surrogate goes out as ``\\ud800``.
        """
        before = len(self.replies)
        self.keep_replies = True
        if not await self.send(json.dumps({"type": "command", "data": {"command": command}})):
            return None
        deadline = time.monotonic() + patience_s
        while len(self.replies) == before and time.monotonic() < deadline and self.open:
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), max(0.01, deadline - time.monotonic()))
        return self.replies[before] if len(self.replies) > before else None

    async def drain(self, patience_s: float) -> None:
        """Wait until every frame sent is answered, the server closes, or ``patience_s`` passes."""
        deadline = time.monotonic() + patience_s
        while self.open and self.answered < self.sent and time.monotonic() < deadline:
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), max(0.01, deadline - time.monotonic()))

    async def ensure_open(self, max_reconnects: int) -> bool:
        """Reconnect after the server closed us, within a bound; False when out of reconnects."""
        if self.open:
            return True
        if self.reconnects >= max_reconnects:
            return False
        self.reconnects += 1
        await self.close()
        try:
            await self.connect()
        except (OSError, websockets.WebSocketException, TimeoutError):
            return False
        return True

    async def close(self) -> None:
        ws, reader = self._ws, self._reader
        self._ws = self._reader = None
        self._closing = True
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2.0)
        if reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(reader, 2.0)

    def figures(self) -> dict[str, Any]:
        return {"sent": self.sent, "answered": self.answered, "answers": dict(self.answers),
                "server_closes": [list(c) for c in self.closes] or None,
                "reconnects": self.reconnects}
