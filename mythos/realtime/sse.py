"""Server-Sent Events transport: one player's event stream as `id:`/`event:`/`data:` frames."""

from __future__ import annotations

from collections.abc import AsyncIterator

from mythos.realtime.connections import Connection, ConnectionManager
from mythos.realtime.events import EventType

__all__ = ["SSE_HEADERS", "SSE_RETRY_MS", "sse_stream"]

# How long a browser's EventSource waits before reconnecting on its own.
SSE_RETRY_MS = 1000
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}


async def sse_stream(connections: ConnectionManager, conn: Connection) -> AsyncIterator[str]:
    """Frames from the connection's queue until it is closed, evicted or the client goes away."""
    try:
        yield f"retry: {SSE_RETRY_MS}\n\n"
        while True:
            event = await conn.queue.get()
            if event is None:
                break
            yield event.to_sse()
            if event.event_type == EventType.SESSION_EVICTED:
                break
    finally:
        connections.disconnect(conn)
