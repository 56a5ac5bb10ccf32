"""GET /api/events/probe: the cheap authenticated check the web client makes when its event stream
fails to open (EventSource hides the HTTP status). It answers like the stream would about the
token, opens no stream and registers no connection."""

from __future__ import annotations

import httpx

from mythos.services import AppServices
from tests.factories import PASSWORD


async def _token(client: httpx.AsyncClient, services: AppServices) -> str:
    code = services.auth.invites.create(1)[0]
    r = await client.post("/auth/register", json={"username": "Probe", "password": PASSWORD, "invite_code": code})
    assert r.status_code == 201
    r = await client.post("/auth/login", json={"username": "Probe", "password": PASSWORD})
    return str(r.json()["access_token"])


async def test_a_valid_token_is_answered_without_opening_a_stream(client: httpx.AsyncClient,
                                                                  services: AppServices) -> None:
    token = await _token(client, services)
    r = await client.get("/api/events/probe", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    interval_ms = round(services.config.server.heartbeat_interval * 1000)
    assert r.json() == {"ok": True, "heartbeat_interval_ms": interval_ms}
    assert services.connections.connection_count() == 0


async def test_a_refused_token_is_401_as_on_the_stream(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}):
        r = await client.get("/api/events/probe", headers=headers)
        assert r.status_code == 401
        assert (await client.get("/api/events", params={"token": "nope", "session_id": "s"})).status_code == 401
