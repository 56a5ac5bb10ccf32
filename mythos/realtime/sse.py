"""Server-Sent Events transport: one player's event stream as `id:`/`event:`/`data:` frames."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from mythos.realtime.connections import Connection, ConnectionManager
from mythos.realtime.events import EventEnvelope, EventType

__all__ = ["SSE_HEADERS", "SSE_RETRY_MS", "heartbeat_advert", "sse_stream"]

# How long a browser's EventSource waits before reconnecting on its own.
SSE_RETRY_MS = 1000
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}


def heartbeat_advert(heartbeat_interval: float) -> EventEnvelope:
    """The stream's first event: an unsequenced heartbeat carrying HEARTBEAT_INTERVAL in ms, from
    which the web client sizes its silence watchdog (docs/protocol.md)."""
    return EventEnvelope(EventType.HEARTBEAT, {"interval_ms": round(heartbeat_interval * 1000)})


async def sse_stream(
    connections: ConnectionManager, conn: Connection, heartbeat_interval: float
) -> AsyncGenerator[str]:
    """Frames from the connection's queue until it is closed, evicted or the client goes away,
    after the retry hint and the heartbeat advert."""
    try:
        yield f"retry: {SSE_RETRY_MS}\n\n"
        yield heartbeat_advert(heartbeat_interval).to_sse()
        while True:
            event = await conn.queue.get()
            if event is None:
                break
            yield event.to_sse()
            if event.event_type == EventType.SESSION_EVICTED:
                break
    finally:
        connections.disconnect(conn)
