"""The SSE stream's first event advertises HEARTBEAT_INTERVAL, so the web client sizes its watchdog
from the server it is talking to instead of a hard-coded guess."""

from __future__ import annotations

import asyncio
import json

from mythos.realtime.connections import Connection, ConnectionManager
from mythos.realtime.sse import sse_stream


def _frame_fields(frame: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in frame.strip("\n").split("\n"):
        name, _, value = line.partition(": ")
        fields[name] = value
    return fields


async def test_first_event_is_a_heartbeat_carrying_the_interval() -> None:
    manager = ConnectionManager(buffer_size=10)
    conn = Connection(player_id=1, session_id="s", transport="sse", queue=asyncio.Queue())
    stream = sse_stream(manager, conn, heartbeat_interval=12.5)
    try:
        assert await anext(stream) == "retry: 1000\n\n"
        first = _frame_fields(await anext(stream))
    finally:
        await stream.aclose()
    assert first["event"] == "heartbeat"
    assert "id" not in first  # unsequenced: it never moves Last-Event-ID
    envelope = json.loads(first["data"])
    assert envelope["event_type"] == "heartbeat" and envelope["sequence_number"] is None
    assert envelope["data"] == {"interval_ms": 12_500}
