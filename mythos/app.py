"""`create_app(config)`: the FastAPI application; its lifespan starts and stops every service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from mythos import __version__
from mythos.api import include_routes
from mythos.commands.security import CommandSecurity
from mythos.config import AppConfig, get_config
from mythos.observability.logging import configure_logging
from mythos.services import AppServices, build_services

__all__ = ["app_factory", "create_app"]


def create_app(config: AppConfig, *, security: CommandSecurity | None = None) -> FastAPI:
    """Build the app for `config`; `security` replaces the permissive command-security default."""
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
