"""Small real clients for tests: an SSE reader over httpx and a WebSocket session over websockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

RECV_TIMEOUT_S = 5.0


@dataclass
class SSEEvent:
    id: int | None
    event: str
    data: dict[str, Any]


class SSEReader:
    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self, timeout: float = RECV_TIMEOUT_S) -> SSEEvent:
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> SSEEvent:
        fields: dict[str, str] = {}
        async for line in self._lines:
            if line == "":
                if "data" in fields:
                    ident = fields.get("id")
                    return SSEEvent(
                        int(ident) if ident else None,
                        fields.get("event", "message"),
                        json.loads(fields["data"]),
                    )
                fields.clear()
                continue
            if line.startswith(":"):
                continue
            key, _, value = line.partition(":")
            fields[key] = value.lstrip(" ")
        raise EOFError("stream ended")

    async def until(self, event: str, timeout: float = RECV_TIMEOUT_S) -> SSEEvent:
        async def _find() -> SSEEvent:
            while True:
                ev = await self._next()
                if ev.event == event:
                    return ev

        return await asyncio.wait_for(_find(), timeout)


@asynccontextmanager
async def sse(
    base_url: str, token: str, session_id: str, last_event_id: int | None = None
) -> AsyncIterator[SSEReader]:
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    params = {"token": token, "session_id": session_id}
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10, read=30)) as client,
        client.stream("GET", "/api/events", params=params, headers=headers) as response,
    ):
        assert response.status_code == 200, await response.aread()
        yield SSEReader(response)


class WSPlayer:
    """Messages skipped while waiting for one kind stay pending for later waits."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.pending: list[dict[str, Any]] = []

    async def recv(self, timeout: float = RECV_TIMEOUT_S) -> dict[str, Any]:
        if self.pending:
            return self.pending.pop(0)
        msg: dict[str, Any] = json.loads(await asyncio.wait_for(self.conn.recv(), timeout))
        return msg

    async def until(self, predicate: Any, timeout: float = RECV_TIMEOUT_S) -> dict[str, Any]:
        for i, msg in enumerate(self.pending):
            if predicate(msg):
                return self.pending.pop(i)

        async def _find() -> dict[str, Any]:
            while True:
                msg: dict[str, Any] = json.loads(await self.conn.recv())
                if predicate(msg):
                    return msg
                self.pending.append(msg)

        return await asyncio.wait_for(_find(), timeout)

    async def until_event(self, event_type: str, timeout: float = RECV_TIMEOUT_S) -> dict[str, Any]:
        return await self.until(lambda m: m.get("event_type") == event_type, timeout)

    async def command(self, text: str, timeout: float = RECV_TIMEOUT_S) -> dict[str, Any]:
        await self.conn.send(json.dumps({"type": "command", "data": {"command": text}}))
        return await self.until(
            lambda m: (
                m.get("type") == "error"
                or (m.get("event_type") == "command_result" and m["data"]["command"] == text)
            ),
            timeout,
        )


@asynccontextmanager
async def ws_player(
    ws_url: str, token: str, session_id: str, last_event_id: int | None = None
) -> AsyncIterator[WSPlayer]:
    url = f"{ws_url}/api/ws?token={token}&session_id={session_id}"
    if last_event_id is not None:
        url += f"&last_event_id={last_event_id}"
    async with connect(url, open_timeout=10) as conn:
        yield WSPlayer(conn)
