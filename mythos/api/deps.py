"""FastAPI dependencies on the app's services: `ServicesDep` and `ConfigDep` for route handlers.

They live here, not in `mythos.auth`, so the composition root (`mythos.services`) can build the
auth service without the auth module importing it back.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from mythos.config import AppConfig
from mythos.services import AppServices

__all__ = ["ConfigDep", "ServicesDep", "get_services"]


def get_services(conn: HTTPConnection) -> AppServices:
    services: AppServices = conn.app.state.services
    return services


ServicesDep = Annotated[AppServices, Depends(get_services)]


def get_app_config(services: ServicesDep) -> AppConfig:
    return services.config


ConfigDep = Annotated[AppConfig, Depends(get_app_config)]
