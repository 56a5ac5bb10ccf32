"""GET /api/events: the SSE stream (token and session_id as query parameters, as EventSource needs),
and GET /api/events/probe, the cheap check of why a stream failed to open."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, status
from fastapi.responses import StreamingResponse

from mythos.api.deps import ServicesDep
from mythos.auth import AuthError, CurrentPlayer
from mythos.realtime.session import SessionRegistryUnavailable, open_connection, parse_last_event_id
from mythos.realtime.sse import SSE_HEADERS, sse_stream

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["realtime"])


@router.get("/events")
async def events(
    services: ServicesDep,
    token: Annotated[str | None, Query()] = None,
    session_id: Annotated[str | None, Query(max_length=128)] = None,
    last_event_id: Annotated[str | None, Query()] = None,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    try:
        player = await services.auth.authenticate(token)
    except AuthError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated") from exc
    # The header wins: EventSource sets it itself on an automatic reconnect.
    resume_from = parse_last_event_id(last_event_id_header, last_event_id)
    try:
        conn = await open_connection(services, player, session_id, "sse", resume_from)
    except SessionRegistryUnavailable as refused:
        # Several servers: a new session nobody can check is refused (docs/adr/ADR-006).
        retry_after = str(max(1, math.ceil(refused.retry_after)))
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, refused.message, headers={"Retry-After": retry_after}
        ) from refused
    stream = sse_stream(services.connections, conn, services.config.server.heartbeat_interval)
    return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)


@router.get("/events/probe")
async def probe(player: CurrentPlayer, services: ServicesDep) -> dict[str, object]:
    """Whether the bearer token would be let onto the stream (401 otherwise), without opening one.

    EventSource hides a refused stream's status, so the web client asks here: a token refusal
    must send the player to sign in, not spend the reconnect budget. Also carries the heartbeat
    interval the stream would advertise.
    """
    del player  # authenticated by the dependency: that is the whole check
    return {"ok": True, "heartbeat_interval_ms": round(services.config.server.heartbeat_interval * 1000)}
