"""GET /api/events: the SSE stream (token and session_id as query parameters, as EventSource needs)."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, status
from fastapi.responses import StreamingResponse

from mythos.api.deps import ServicesDep
from mythos.auth import AuthError
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
    return StreamingResponse(
        sse_stream(services.connections, conn), media_type="text/event-stream", headers=SSE_HEADERS
    )
