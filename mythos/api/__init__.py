"""HTTP and WebSocket routes, one router per concern; handlers stay thin."""

from fastapi import FastAPI

from mythos.api import auth, commands, dlq, events, health, metrics, static, ws

__all__ = ["include_routes"]


def include_routes(app: FastAPI) -> None:
    for router in (auth.router, health.router, events.router, ws.router, commands.router):
        app.include_router(router)
    for router in (metrics.router, dlq.router):
        app.include_router(router)
    # Last: the client's files answer only what no route claimed.
    static.mount_client(app)
