"""HTTP routes through the ASGI app (lifespan running); the real-server flows are in tests/integration."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from mythos.app import create_app
from mythos.commands.context import Actor
from mythos.commands.security import SecurityVerdict
from mythos.services import AppServices
from tests.factories import ADMIN_PASSWORD, PASSWORD, make_config
from tests.security_doubles import PermissiveSecurity


async def _token(client: httpx.AsyncClient, services: AppServices, name: str = "Alice") -> str:
    code = services.auth.invites.create(1)[0]
    r = await client.post(
        "/auth/register", json={"username": name, "password": PASSWORD, "invite_code": code}
    )
    assert r.status_code == 201 and r.json()["username"] == name
    r = await client.post("/auth/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600 and body["player_id"] > 0
    return str(body["access_token"])


async def test_register_login_and_command(client: httpx.AsyncClient, services: AppServices) -> None:
    token = await _token(client, services)
    r = await client.post(
        "/api/commands", json={"command": "look"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200
    assert r.json()["event_type"] == "command_result" and "Exits:" in r.json()["data"]["text"]
    r = await client.post("/api/commands", json={"command": "look"})
    assert r.status_code == 401


async def test_register_errors(client: httpx.AsyncClient, services: AppServices) -> None:
    r = await client.post(
        "/auth/register", json={"username": "Alice", "password": PASSWORD, "invite_code": "bad"}
    )
    assert r.status_code == 400
    r = await client.post(
        "/auth/register", json={"username": "admin", "password": PASSWORD, "invite_code": "bad"}
    )
    assert r.status_code == 409
    r = await client.post("/auth/register", json={"username": "x"})
    assert r.status_code == 422


async def test_admin_account_logs_in_with_the_configured_password(client: httpx.AsyncClient) -> None:
    r = await client.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 200
    bad = await client.post("/auth/login", json={"username": "admin", "password": "wrong"})
    assert bad.status_code == 401 and bad.json() == {"detail": "Invalid username or password"}


async def test_health_with_nats_disabled_is_degraded_but_serving(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/health")
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["database"], r.json()["nats"]) == ("degraded", "ok", "down")


async def test_health_is_503_when_the_database_is_down(
    client: httpx.AsyncClient, services: AppServices
) -> None:
    await services.db.stop()
    r = await client.get("/api/health")
    assert r.status_code == 503 and r.json()["status"] == "down"
    await services.db.start()


async def test_sse_refuses_bad_tokens(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/events", params={"token": "nope", "session_id": "s"})
    assert r.status_code == 401


async def test_rate_limited_http_command_is_429(client: httpx.AsyncClient, services: AppServices) -> None:
    class Limited(PermissiveSecurity):
        def check_rate(self, actor: Actor) -> SecurityVerdict:
            return SecurityVerdict.deny("rate_limited", "Slow down.", 2.2)

    token = await _token(client, services)
    services.game.security = Limited()
    r = await client.post(
        "/api/commands", json={"command": "look"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    assert r.json() == {
        "type": "error",
        "error_type": "rate_limited",
        "message": "Slow down.",
        "retry_after": 2.2,
    }


@pytest.fixture
async def client_with_dist(tmp_path: Path):
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>mythos client</html>")
    (dist / "assets" / "app.js").write_text("console.log(1)")
    app: FastAPI = create_app(make_config(tmp_path, server={"client_dist_dir": dist}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        yield c


async def test_client_is_served_when_built(client_with_dist: httpx.AsyncClient) -> None:
    assert "mythos client" in (await client_with_dist.get("/")).text
    assert (await client_with_dist.get("/assets/app.js")).status_code == 200
    assert (await client_with_dist.get("/api/health")).status_code == 200


async def test_no_client_build_means_no_root_page(client: httpx.AsyncClient) -> None:
    assert (await client.get("/")).status_code == 404
