"""WS /api/ws: the WebSocket endpoint; the protocol lives in mythos.realtime.websocket."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, WebSocket

from mythos.api.deps import ServicesDep
from mythos.realtime.session import parse_last_event_id
from mythos.realtime.websocket import serve_websocket

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["realtime"])


@router.websocket("/ws")
async def websocket(
    ws: WebSocket,
    services: ServicesDep,
    token: Annotated[str | None, Query()] = None,
    session_id: Annotated[str | None, Query(max_length=128)] = None,
    last_event_id: Annotated[str | None, Query()] = None,
) -> None:
    await serve_websocket(ws, services, token, session_id, parse_last_event_id(last_event_id))
