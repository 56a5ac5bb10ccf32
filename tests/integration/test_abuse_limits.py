"""Abuse limits over real sockets: WebSocket frame budgets (close 1008) and login throttling from
distinct loopback addresses (Linux answers all of 127.0.0.0/8), against a real uvicorn."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.factories import ADMIN_PASSWORD, PASSWORD, make_config, unique_name
from tests.integration.conftest import LiveServer

pytestmark = pytest.mark.integration

FLOOD_ADDRESSES = [f"127.0.0.{n}" for n in range(20, 28)]
OWNER_ADDRESS = "127.0.0.3"
FLOOD_SECONDS = 6.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(make_config(tmp_path, server={"ws_pings_per_second": 0.01, "heartbeat_interval": 100.0,
                                                          "ws_bad_frames_per_minute": 0.1}))
    live.start()
    try:
        yield live
    finally:
        live.stop()


async def _until_closed(url: str, frame: str, limit: int = 200) -> tuple[int, int, str]:
    """Send `frame` and read answers until the server closes: (frames sent, close code, reason)."""
    async with connect(url) as ws:
        sent = 0
        try:
            while sent < limit:
                await ws.send(frame)
                sent += 1
                while True:  # one answer per frame; events in between are skipped
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    if msg.get("type") in ("error", "pong"):
                        break
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "the server must close with a code, not drop the socket"
            return sent, closed.rcvd.code, closed.rcvd.reason
    pytest.fail(f"{limit} frames sent and the connection is still open")


async def test_garbage_and_ping_floods_are_closed_with_1008(server: LiveServer) -> None:
    token = str(server.register_and_login(unique_name(), PASSWORD)["access_token"])
    cfg = server.config.server
    sent, code, reason = await _until_closed(f"{server.ws_url}/api/ws?token={token}&session_id=g", "{not json")
    assert (code, reason) == (1008, "policy violation: too many invalid frames")
    assert sent == cfg.ws_bad_frame_burst + 1
    sent, code, reason = await _until_closed(f"{server.ws_url}/api/ws?token={token}&session_id=p", '{"type":"ping"}')
    assert (code, reason) == (1008, "policy violation: too many pings")
    assert sent == cfg.ws_ping_burst + cfg.ws_bad_frame_burst + 1
    # A fresh connection of the same player works: the budget is per connection.
    async with connect(f"{server.ws_url}/api/ws?token={token}&session_id=ok") as ws:
        await ws.send(json.dumps({"type": "command", "data": {"command": "look"}}))
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if msg.get("event_type") == "command_result":
                assert msg["data"]["ok"] is True
                break


async def _login(address: str, base_url: str, name: str, password: str) -> tuple[int, float, httpx.Response]:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(transport=transport, base_url=base_url, timeout=30) as c:
        started = time.perf_counter()
        r = await c.post("/auth/login", json={"username": name, "password": password})
        return r.status_code, (time.perf_counter() - started) * 1000.0, r


async def test_a_real_admin_logs_in_during_a_brute_force_and_a_login_flood(server: LiveServer) -> None:
    """Wrong passwords for admin from eight addresses while the admin, a returning player, logs in
    from another: the flood is throttled or refused at once and the admin is not kept waiting."""
    status, _, r = await _login(OWNER_ADDRESS, server.http_url, "admin", ADMIN_PASSWORD)
    assert status == 200, r.text
    stop = time.monotonic() + FLOOD_SECONDS
    flood_statuses: dict[int, int] = {}

    async def flooder(address: str) -> None:
        async with httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(local_address=address), base_url=server.http_url, timeout=30
        ) as c:
            while time.monotonic() < stop:
                r = await c.post("/auth/login", json={"username": "admin", "password": "a-wrong-guess"})
                flood_statuses[r.status_code] = flood_statuses.get(r.status_code, 0) + 1
                if r.status_code == 200:
                    pytest.fail("a wrong password logged in")

    flood = [asyncio.create_task(flooder(a)) for a in FLOOD_ADDRESSES]
    await asyncio.sleep(1.0)  # the flood is running and the guessing addresses are throttled
    legit_ms: list[float] = []
    while time.monotonic() < stop - 0.5:
        status, ms, r = await _login(OWNER_ADDRESS, server.http_url, "admin", ADMIN_PASSWORD)
        assert status == 200, r.text
        legit_ms.append(ms)
        await asyncio.sleep(0.2)
    await asyncio.gather(*flood)
    # The flood was refused (429 throttled, 503 busy) far more often than it was evaluated (401).
    refused = flood_statuses.get(429, 0) + flood_statuses.get(503, 0)
    assert refused > flood_statuses.get(401, 0), flood_statuses
    assert flood_statuses.get(401, 0) <= len(FLOOD_ADDRESSES) * server.config.security.login_free_failures
    assert legit_ms, "the admin never tried"
    # Liveness, not speed: every login of the real admin is answered while eight addresses flood the
    # account (an unbounded hash queue starves it for the whole flood). Its latency is a figure of the
    # abuse suite (legit_login_p99_under_login_flood_ms), measured there, not a timed assertion here.
    print(
        f"legit admin logins during the flood: n={len(legit_ms)} median={statistics.median(legit_ms):.0f} ms "
        f"max={max(legit_ms):.0f} ms; flood answers {flood_statuses}"
    )
    assert max(legit_ms) < 10_000, legit_ms
