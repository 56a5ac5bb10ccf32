"""The series the shipped alert rules and dashboard read (deploy/prometheus, deploy/grafana):
health status, open connections and refused commands by type, as GET /metrics exports them."""

from __future__ import annotations

import httpx

from mythos.commands.context import Actor
from mythos.commands.security import SecurityVerdict
from mythos.services import AppServices
from tests.factories import PASSWORD
from tests.security_doubles import PermissiveSecurity


def _value(text: str, series: str) -> float | None:
    """The sample of ``series`` (name with labels, exactly as exported) in a scrape, or None."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


async def _token(client: httpx.AsyncClient, services: AppServices, name: str) -> str:
    code = services.auth.invites.create(1)[0]
    r = await client.post("/auth/register", json={"username": name, "password": PASSWORD, "invite_code": code})
    assert r.status_code == 201
    r = await client.post("/auth/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200
    return str(r.json()["access_token"])


async def test_health_status_gauge_says_what_api_health_says(client: httpx.AsyncClient, services: AppServices) -> None:
    """NATS disabled: health is degraded, and the one-hot gauge says degraded, not ok."""
    assert (await client.get("/api/health")).json()["status"] == "degraded"
    text = (await client.get("/metrics")).text
    assert _value(text, 'mythos_health_state{state="degraded"}') == 1.0, text
    assert _value(text, 'mythos_health_state{state="ok"}') == 0.0
    await services.db.stop()
    try:
        text = (await client.get("/metrics")).text
        assert _value(text, 'mythos_health_state{state="down"}') == 1.0
        assert _value(text, 'mythos_health_state{state="degraded"}') == 0.0
    finally:
        await services.db.start()


async def test_refused_commands_are_counted_by_type(client: httpx.AsyncClient, services: AppServices) -> None:
    class Limited(PermissiveSecurity):
        def check_rate(self, actor: Actor) -> SecurityVerdict:
            return SecurityVerdict.deny("rate_limited", "Slow down.", 2.0)

    token = await _token(client, services, "Refused")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.post("/api/commands", json={"command": "look"}, headers=headers)).status_code == 200
    text = (await client.get("/metrics")).text
    assert _value(text, 'mythos_command_refusals_total{type="rate_limited"}') is None  # nothing refused yet
    services.game.security = Limited()
    for _ in range(3):
        r = await client.post("/api/commands", json={"command": "look"}, headers=headers)
        assert r.status_code == 429
    text = (await client.get("/metrics")).text
    assert _value(text, 'mythos_command_refusals_total{type="rate_limited"}') == 3.0, text


async def test_open_connections_are_exported(client: httpx.AsyncClient) -> None:
    text = (await client.get("/metrics")).text
    assert _value(text, "mythos_connections") == 0.0, text
