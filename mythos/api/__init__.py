"""HTTP and WebSocket routes, one router per concern; handlers stay thin.

A database that cannot be reached answers every route the same way: 503 with Retry-After and the
error body ``{type: "error", error_type: "database_unavailable", message, retry_after}``.
"""

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from mythos.api import auth, commands, dlq, events, health, metrics, static, ws
from mythos.db import DatabaseUnavailableError
from mythos.observability.logging import get_logger
from mythos.realtime.events import error_message

__all__ = ["database_unavailable", "include_routes"]

log = get_logger(__name__)


def database_unavailable(exc: DatabaseUnavailableError) -> JSONResponse:
    return JSONResponse(
        error_message("database_unavailable", exc.message, exc.retry_after),
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(exc.retry_after)},
    )


async def _on_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DatabaseUnavailableError)
    log.warning("database_unavailable", path=request.url.path, cause=repr(exc.__cause__))
    return database_unavailable(exc)


def include_routes(app: FastAPI) -> None:
    app.add_exception_handler(DatabaseUnavailableError, _on_database_unavailable)
    for router in (auth.router, health.router, events.router, ws.router, commands.router):
        app.include_router(router)
    for router in (metrics.router, dlq.router):
        app.include_router(router)
    # Last: the client's files answer only what no route claimed.
    static.mount_client(app)
