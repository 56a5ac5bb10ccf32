"""GET /api/health: database and NATS reported separately; 503 only when players cannot be served."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from mythos.api.deps import ServicesDep

if TYPE_CHECKING:
    from mythos.services import AppServices

__all__ = ["health_report", "router"]

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health")
async def health(services: ServicesDep) -> JSONResponse:
    body = await health_report(services)
    return JSONResponse(body, status_code=503 if body["status"] == "down" else 200)


async def health_report(services: AppServices) -> dict[str, Any]:
    """The health body; GET /metrics exports its status as ``mythos_health_state`` too."""
    database = "ok" if await services.db.ping() else "down"
    nats = services.nats.health()
    # An audit log that cannot write (a full disk) loses the security record, not the game.
    audit = "ok" if services.audit is None or services.audit.healthy else "degraded"
    # Without NATS only chat is lost: players can still be served, so that is degraded, not down.
    overall = "down" if database == "down" else "ok" if nats == "ok" and audit == "ok" else "degraded"
    return {
        "status": overall,
        "database": database,
        "nats": nats,
        "nats_state": services.nats.state,
        "audit": audit,
        "connections": services.connections.connection_count(),
    }
