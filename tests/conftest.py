"""Shared fixtures: a real nats-server and a real PostgreSQL per session, configs, and a started app.

``db_url`` runs a test against both engines (ids ``sqlite`` and ``postgres``). PostgreSQL is
started only when a ``postgres`` test runs; its tests share one database at head, emptied
before each test (TRUNCATE costs ~10 ms, a fresh database 100-700 ms here). Tests of the
migrations themselves take an empty database of their own from ``fresh_db_url``.
"""

from __future__ import annotations

import asyncio
import itertools
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

from harness.required_tools import require_postgres  # noqa: E402
from harness.services.postgres import PostgresServer  # noqa: E402
from mythos.app import create_app  # noqa: E402
from mythos.config import AppConfig  # noqa: E402
from mythos.db import Database  # noqa: E402
from mythos.local_nats import LocalNatsServer  # noqa: E402
from mythos.services import AppServices  # noqa: E402
from tests.factories import make_config, sqlite_url  # noqa: E402

DB_ENGINES = ["sqlite", "postgres"]
SHARED_TEST_DB = "tests"
_fresh_names = itertools.count(1)


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


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A real PostgreSQL (initdb in a scratch directory) on a free loopback port, one per pytest process."""
    with PostgresServer(tmp_path_factory.mktemp("postgres-logs"), bin_dir=require_postgres()) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_test_db(postgres_server: PostgresServer) -> str:
    """The database the ``postgres`` tests share, brought to head (and NPCs seeded) once."""
    url = postgres_server.create_database(SHARED_TEST_DB)

    async def bring_to_head() -> None:
        db = Database(url, url)
        await db.start()
        await db.stop()

    asyncio.run(bring_to_head())
    return url


def _empty_tables(server: PostgresServer) -> None:
    """Players and aliases of the previous test are gone; NPCs and the recorded revision stay.

    Bounded: ``execute`` gives a statement 10 s, so a connection left holding a lock fails the test.
    """
    server.execute("TRUNCATE players, aliases RESTART IDENTITY CASCADE", dbname=SHARED_TEST_DB)


@pytest.fixture(params=DB_ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The player database URL, once per engine: an SQLite file, or the emptied shared PostgreSQL database."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "mythos.db")
    url: str = request.getfixturevalue("postgres_test_db")
    _empty_tables(request.getfixturevalue("postgres_server"))
    return url


@pytest.fixture(params=DB_ENGINES)
def fresh_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of the test's own (no tables): for tests of the migrations and of first start."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "fresh.db")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"fresh_{next(_fresh_names)}")


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
