"""Several real mythos servers as one world: one SQLite database, one nats-server, CLUSTER_SESSIONS on.

Each server is a real app under uvicorn on its own loopback port and thread (its own event loop),
so two servers really race; the session registry and presence are real JetStream KV buckets.
Helpers here peek at a server's in-process state (read-only) to know when it has settled.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mythos.local_nats import LocalNatsServer
from mythos.services import AppServices
from tests.factories import make_config
from tests.integration.conftest import LiveServer

pytestmark = pytest.mark.integration

SETTLE_TIMEOUT_S = 5.0


class ClusterServer(LiveServer):
    """A LiveServer whose services the test can read."""

    @property
    def services(self) -> AppServices:
        assert self._server is not None
        services: AppServices = self._server.config.app.state.services
        return services

    @property
    def instance_id(self) -> str:
        assert self.services.cluster is not None
        return self.services.cluster.registry.server

    def registry_ready(self) -> bool:
        registry = self.services.sessions
        return registry is not None and registry.available


def cluster_config(
    root: Path, name: str, nats_url: str, *, presence_refresh: float = 0.5, presence_ttl: float = 1.5
) -> Any:
    """A server of the world under root/name, sharing root's database and invite file."""
    return make_config(
        root / name,
        server={"heartbeat_interval": 0.5, "instance_id": f"test-{name}"},
        database={
            "url": f"sqlite+aiosqlite:///{root / 'world.db'}",
            "npc_url": f"sqlite+aiosqlite:///{root / 'npcs.db'}",
        },
        nats={"enabled": True, "url": nats_url},
        security={
            "invite_codes_file": root / "invites.json",
            # Probing another server's alias cache takes many commands; the budget is not under test.
            "rate_limit_max_commands": 1000,
        },
        cluster={
            "sessions": True,
            "presence_refresh_seconds": presence_refresh,
            "presence_ttl_seconds": presence_ttl,
        },
    )


def start_world(root: Path, nats_urls: list[str]) -> list[ClusterServer]:
    """Start one server per NATS URL, one after the other (they share the schema), and wait until
    every session registry is in sync."""
    servers: list[ClusterServer] = []
    try:
        for index, url in enumerate(nats_urls):
            servers.append(ClusterServer(cluster_config(root, f"s{index}", url)).start())
        wait_sync(lambda: all(s.registry_ready() for s in servers), "session registries in sync")
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


async def start_world_async(root: Path, nats_urls: list[str]) -> list[ClusterServer]:
    """`start_world` for a test whose own loop must keep running meanwhile (it forwards a server's
    NATS traffic): each server starts in a worker thread."""
    servers: list[ClusterServer] = []
    try:
        for index, url in enumerate(nats_urls):
            server = ClusterServer(cluster_config(root, f"s{index}", url))
            servers.append(await asyncio.to_thread(server.start))
        await wait_until(lambda: all(s.registry_ready() for s in servers), "session registries in sync")
    except BaseException:
        for server in servers:
            await asyncio.to_thread(server.stop)
        raise
    return servers


def wait_sync(predicate: Callable[[], bool], what: str, timeout: float = SETTLE_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = SETTLE_TIMEOUT_S) -> float:
    """Poll `predicate` without blocking the test's loop; returns the seconds it took."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture
def world(tmp_path: Path, nats_server: LocalNatsServer) -> Iterator[list[ClusterServer]]:
    """Two servers of one world on the session-scoped nats-server."""
    servers = start_world(tmp_path, [nats_server.url, nats_server.url])
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


async def register(server: ClusterServer, username: str, password: str) -> str:
    """Register and log in over HTTP without blocking the test's loop (it may run a forwarder)."""
    code = server.invites.create(1)[0]
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as client:
        r = await client.post("/auth/register", json={"username": username, "password": password, "invite_code": code})
        assert r.status_code == 201, r.text
        r = await client.post("/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


async def http_command(client: httpx.AsyncClient, server: ClusterServer, token: str, command: str) -> httpx.Response:
    return await client.post(
        f"{server.http_url}/api/commands",
        json={"command": command},
        headers={"Authorization": f"Bearer {token}"},
    )


def p95(samples: list[float]) -> float:
    """The 95th percentile (inclusive method), as the KPI catalogue reads it."""
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


async def timed(action: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = await action()
    return result, time.perf_counter() - started
