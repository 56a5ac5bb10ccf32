"""`create_app(config)`: the FastAPI application; its lifespan starts and stops every service.

`serve_app` runs it under uvicorn with a graceful stop that drains the game first: uvicorn's own
shutdown closes every WebSocket (1012) as soon as it stops listening and runs the lifespan
shutdown only after that, so a drain in the lifespan would find the sockets already gone.
"""

from __future__ import annotations

import gc
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from mythos import __version__
from mythos.allocator import return_large_blocks_to_os
from mythos.api import include_routes
from mythos.commands.security import CommandSecurity
from mythos.config import AppConfig, get_config
from mythos.observability.logging import configure_logging
from mythos.services import AppServices, build_services

__all__ = ["DrainingServer", "app_factory", "create_app", "freeze_startup_heap", "serve_app", "uvicorn_options"]

STARTUP_FAILURE = 3  # uvicorn's exit code when the app did not start


def create_app(config: AppConfig, *, security: CommandSecurity | None = None) -> FastAPI:
    """Build the app for `config`; `security` replaces the permissive command-security default."""
    return_large_blocks_to_os()  # argon2's blocks are freed back, not kept per thread
    services = build_services(config, security)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await services.start()
        try:
            yield
        finally:
            await services.stop()

    app = FastAPI(title="Mythos", version=__version__, lifespan=lifespan)
    app.state.services = services
    include_routes(app)
    return app


def app_factory() -> FastAPI:
    """For `uvicorn --factory mythos.app:app_factory`: config from the environment."""
    config = get_config()
    configure_logging(config.logging)
    return create_app(config)


def services_of(app: FastAPI) -> AppServices:
    services: AppServices = app.state.services
    return services


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with the game drained between "stop listening" and "close connections".

    On SIGTERM uvicorn stops listening, then tells each connection to shut down (a WebSocket is
    closed with 1012 at once, whatever it is doing), then runs the lifespan shutdown. Here the
    listeners close first (new players go to another server), then `AppServices.drain` lets the
    commands in flight finish, writes their replies and closes the sockets itself; uvicorn's
    shutdown then finds them closed, and the lifespan stops NATS and the database.
    """

    def __init__(self, config: uvicorn.Config, services: AppServices) -> None:
        super().__init__(config)
        self.services = services

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in getattr(self, "servers", []):
            server.close()
        if not self.force_exit:  # a second Ctrl-C skips the drain, as it skips uvicorn's wait
            await self.services.drain()
        await super().shutdown(sockets)


def uvicorn_options() -> dict[str, Any]:
    """uvicorn's options for the game (bench/echo_server.py serves its floor with the same ones).

    No per-message deflate: the game's frames are a few hundred bytes, and compressing each one
    costs server CPU per frame and a compressor and a decompressor per connection in memory
    (bench/server_cost.py; the figures are in docs/load.md)."""
    return {"log_config": None, "access_log": False, "ws_per_message_deflate": False}


def freeze_startup_heap() -> None:
    """Keep what start-up built (modules, the ORM, the world) out of every garbage collection.

    Commands allocate briskly, so the collector runs often, and each full collection walked the
    whole start-up heap: 12 % of a look's server CPU (py-spy, bench/server_cost.py). Frozen
    objects are never collected, which is what they are: they live as long as the process."""
    gc.collect()
    gc.freeze()


def serve_app(app: FastAPI, host: str, port: int) -> None:
    """Run `app` on host:port until SIGTERM/SIGINT, with the graceful stop above."""
    server = DrainingServer(uvicorn.Config(app, host=host, port=port, **uvicorn_options()), services_of(app))
    freeze_startup_heap()
    server.run()
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)
