"""POST /api/commands: run one command over plain HTTP, through the same pipeline as WebSocket.

On several servers (CLUSTER_SESSIONS) a command runs only on the server that holds the player's
session: the rate budget is the holder's, so a client hopping servers over HTTP cannot collect
one budget per server. Elsewhere it is refused with 409 (ADR-006).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from mythos.api.deps import ServicesDep
from mythos.auth import CurrentPlayer
from mythos.commands.builtin import SESSION_ELSEWHERE
from mythos.commands.context import Actor
from mythos.commands.pipeline import process_command_unified
from mythos.realtime.events import error_message

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["commands"])

# A refusal's HTTP status by error_type; any other refusal is 400.
NO_SESSION = "Open your connection to the world first (the event stream or the WebSocket), then send commands."

_REFUSAL_STATUS = {"rate_limited": 429, "forbidden": 403, "database_unavailable": 503}


class CommandRequest(BaseModel):
    command: str = Field(max_length=16_384)
    # The client's session (as on /api/ws and /api/events), for the audit log.
    session_id: str | None = Field(default=None, max_length=128)


@router.post("/commands", response_model=None)
async def run_command(
    body: CommandRequest, player: CurrentPlayer, services: ServicesDep, request: Request
) -> dict[str, Any] | JSONResponse:
    registry = services.sessions
    if registry is not None and not registry.holds(player.id):
        error_type = "session_elsewhere" if registry.owner_of(player.id) is not None else "no_session"
        message = SESSION_ELSEWHERE if error_type == "session_elsewhere" else NO_SESSION
        return JSONResponse(error_message(error_type, message), status_code=409)
    ip = request.client.host if request.client else None
    result = await process_command_unified(
        body.command,
        Actor.from_player(player),
        services.game,
        source="http",
        ip_address=ip,
        session_id=body.session_id,
    )
    if result.refused:
        status_code = _REFUSAL_STATUS.get(result.error_type or "", 400)
        retry = status_code in (429, 503)
        headers = {"Retry-After": str(max(1, round(result.retry_after or 1)))} if retry else None
        return JSONResponse(
            error_message(result.error_type or "invalid_command", result.text, result.retry_after),
            status_code=status_code,
            headers=headers,
        )
    return {"event_type": "command_result", "data": result.envelope_data(body.command)}
