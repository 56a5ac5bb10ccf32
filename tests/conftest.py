"""Shared fixtures: a real nats-server per session, configs, and a started app."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

# Let tests import `tests.factories` however pytest was started.
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from fastapi import FastAPI  # noqa: E402

from mythos.app import create_app  # noqa: E402
from mythos.config import AppConfig  # noqa: E402
from mythos.local_nats import LocalNatsServer  # noqa: E402
from mythos.services import AppServices  # noqa: E402
from tests.factories import make_config  # noqa: E402


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNatsServer]:
    """A real nats-server (-js -sd <tmp>) on a free loopback port, stopped by PID at the end."""
    store = tmp_path_factory.mktemp("nats-store")
    server = LocalNatsServer(store_dir=store, log_file=store / "nats.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def config(tmp_path: Path) -> AppConfig:
    """NATS disabled: for tests that do not need chat."""
    return make_config(tmp_path)


@pytest.fixture
def nats_config(tmp_path: Path, nats_server: LocalNatsServer) -> AppConfig:
    return make_config(tmp_path, nats={"enabled": True, "url": nats_server.url})


@pytest.fixture
async def app(config: AppConfig) -> AsyncIterator[FastAPI]:
    """The app with its lifespan running (database, admin account, NATS service, heartbeats)."""
    application = create_app(config)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def services(app: FastAPI) -> AppServices:
    result: AppServices = app.state.services
    return result


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mythos.test") as c:
        yield c
