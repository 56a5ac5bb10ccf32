"""GET /api/health: database and NATS reported separately; 503 only when players cannot be served."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from mythos.api.deps import ServicesDep

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health")
async def health(services: ServicesDep) -> JSONResponse:
    database = "ok" if await services.db.ping() else "down"
    nats = services.nats.health()
    # An audit log that cannot write (a full disk) loses the security record, not the game.
    audit = "ok" if services.audit is None or services.audit.healthy else "degraded"
    # Without NATS only chat is lost: players can still be served, so that is degraded, not down.
    overall = "down" if database == "down" else "ok" if nats == "ok" and audit == "ok" else "degraded"
    body = {
        "status": overall,
        "database": database,
        "nats": nats,
        "nats_state": services.nats.state,
        "audit": audit,
        "connections": services.connections.connection_count(),
    }
    return JSONResponse(body, status_code=503 if overall == "down" else 200)
