"""HTTP routes through the ASGI app (lifespan running); the real-server flows are in tests/integration."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mythos.app import create_app
from mythos.commands.context import Actor
from mythos.commands.security import SecurityVerdict
from mythos.local_nats import LocalNatsServer
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


# NATS on (a real nats-server): health, the DLQ admin routes and the metrics routes (issue 12).


@pytest.fixture
async def nats_app(
    tmp_path: Path, nats_server: LocalNatsServer
) -> AsyncIterator[tuple[httpx.AsyncClient, AppServices]]:
    config = make_config(
        tmp_path, nats={"enabled": True, "url": nats_server.url, "breaker_timeout_seconds": 0.2}
    )
    app: FastAPI = create_app(config)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mythos.test") as c,
    ):
        services: AppServices = app.state.services
        assert await services.nats.reliable.link.wait_connected(5) if services.nats.reliable else False
        yield c, services


async def _admin_headers(client: httpx.AsyncClient) -> dict[str, str]:
    r = await client.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 200
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _chat(message_id: str) -> dict[str, Any]:
    return {"message_id": message_id, "sender_id": 1, "sender_name": "A", "channel": "say",
            "content": f"line {message_id}", "timestamp": "2026-01-01T00:00:00+00:00", "room_id": "hall",
            "_subject": "chat.say.hall"}  # fmt: skip


def _audit_lines(services: AppServices) -> list[dict[str, Any]]:
    assert services.audit is not None and services.audit.flush()
    lines = []
    for path in sorted(Path(services.config.logging.log_base).rglob("*.jsonl")):
        lines += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [line for line in lines if line.get("metadata", {}).get("event") == "dlq_admin"]


async def test_health_is_degraded_while_the_breaker_is_half_open(
    nats_app: tuple[httpx.AsyncClient, AppServices],
) -> None:
    client, services = nats_app
    assert (await client.get("/api/health")).json()["nats"] == "ok"
    reliable = services.nats.reliable
    assert reliable is not None
    breaker = reliable.publish_breaker
    for _ in range(breaker.failure_threshold):
        breaker.after_failure(ConnectionError("forced"), breaker.before_call())
    await asyncio.sleep(0.3)  # past the 0.2 s open timeout: the next call would be the probe
    assert breaker.state.value == "half_open"
    r = await client.get("/api/health")
    assert r.status_code == 200 and (r.json()["status"], r.json()["nats"]) == ("degraded", "degraded")
    for _ in range(breaker.success_threshold):
        breaker.after_success(breaker.before_call())
    assert (await client.get("/api/health")).json()["nats"] == "ok"


async def test_dlq_ids_that_are_not_ids_are_400_not_500(nats_app: tuple[httpx.AsyncClient, AppServices]) -> None:
    client, _services = nats_app
    headers = await _admin_headers(client)
    for bad in ("bad%00id", "%00", "a.json", "x" * 129):
        assert (await client.get(f"/api/admin/dlq/{bad}", headers=headers)).status_code == 400, bad
        assert (await client.delete(f"/api/admin/dlq/{bad}", headers=headers)).status_code == 400, bad
        assert (await client.post(f"/api/admin/dlq/{bad}/replay", headers=headers)).status_code == 400, bad
    assert (await client.get("/api/admin/dlq/no-such-entry", headers=headers)).status_code == 404


async def test_dlq_admin_actions_write_audit_lines(nats_app: tuple[httpx.AsyncClient, AppServices]) -> None:
    client, services = nats_app
    dlq = services.nats.dlq
    assert dlq is not None
    headers = await _admin_headers(client)
    for message_id in ("keep-1", "drop-1", "old-1"):
        await dlq.enqueue(_chat(message_id), TimeoutError("no ack"), 3)
    assert (await client.delete("/api/admin/dlq/drop-1", headers=headers)).status_code == 204
    assert (await client.delete("/api/admin/dlq/drop-1", headers=headers)).status_code == 404
    assert (await client.post("/api/admin/dlq/keep-1/replay", headers=headers)).status_code == 200
    r = await client.post("/api/admin/dlq/purge", params={"older_than": "0s"}, headers=headers)
    assert r.json()["purged"] == 1
    lines = _audit_lines(services)
    seen = [(line["player"], line["metadata"]["action"], line["metadata"]["ids"], line["success"],
             line["metadata"]["source"]) for line in lines]  # fmt: skip
    assert seen == [
        ("admin", "delete", ["drop-1"], True, "http"),
        ("admin", "delete", ["drop-1"], False, "http"),
        ("admin", "replay", ["keep-1"], True, "http"),
        ("admin", "purge", ["old-1"], True, "http"),
    ]
    assert lines[1]["metadata"]["result"] == {"outcome": "not_found"}
    assert lines[3]["metadata"]["result"]["purged"] == 1 and lines[3]["ip_address"] is not None


async def test_scrapes_do_not_list_the_dlq_and_its_gauge_follows_the_queue(
    nats_app: tuple[httpx.AsyncClient, AppServices],
) -> None:
    client, services = nats_app
    dlq = services.nats.dlq
    assert dlq is not None and services.nats.reliable is not None
    # The outbox lists the queue when the link comes up (its own drain, not a scrape): stopped
    # here so that only scrapes could be counted (a run caught the start-up drain listing it).
    await services.nats.reliable.outbox.stop()
    listings = 0
    real = dlq._entry_paths

    def counted() -> list[Path]:
        nonlocal listings
        listings += 1
        return real()

    dlq._entry_paths = counted  # type: ignore[method-assign]
    headers = await _admin_headers(client)
    await dlq.enqueue(_chat("g-1"), TimeoutError("no ack"), 3)
    await dlq.enqueue(_chat("g-2"), TimeoutError("no ack"), 3)
    for _ in range(5):
        assert b"mythos_nats_dlq_depth 2.0" in (await client.get("/metrics")).content
        assert (await client.get("/api/metrics", headers=headers)).json()["nats"]["dlq_depth"] == 2
    await dlq.delete("g-1")
    assert b"mythos_nats_dlq_depth 1.0" in (await client.get("/metrics")).content
    assert listings == 0, "a scrape listed the DLQ directory"


async def test_api_metrics_and_dlq_files_have_the_spec_shapes(nats_app: tuple[httpx.AsyncClient, AppServices]) -> None:
    """From the outside: the admin JSON over HTTP, and a DLQ entry file read as JSON from disk."""
    client, services = nats_app
    headers = await _admin_headers(client)
    services.metrics.record_message_processed("say")
    services.metrics.record_message_processed("say")
    services.metrics.record_message_failed("emote")
    assert services.nats.dlq is not None
    await services.nats.dlq.enqueue(_chat("shape-1"), TimeoutError("no ack"), 3)
    services.metrics.record_message_dlq("say")
    body = (await client.get("/api/metrics", headers=headers)).json()
    assert "cluster" not in body  # one server: no cluster counters
    nats = body["nats"]
    assert (nats["messages_processed"], nats["messages_failed"], nats["messages_dlq"]) == (
        {"say": 2}, {"emote": 1}, {"say": 1},
    )  # fmt: skip
    assert (nats["messages_processed_total"], nats["messages_failed_total"], nats["messages_dlq_total"]) == (2, 1, 1)
    [path] = Path(services.config.server.data_dir, "dlq").glob("shape-1.json")
    entry = json.loads(path.read_text())
    assert datetime.fromisoformat(entry["timestamp"]).tzinfo is not None
    assert (entry["message"]["message_id"], entry["error"], entry["error_type"], entry["retry_count"]) == (
        "shape-1", "no ack", "TimeoutError", 3,
    )  # fmt: skip


async def test_an_audit_log_that_cannot_write_shows_in_health_and_metrics(
    client: httpx.AsyncClient, services: AppServices
) -> None:
    """A full disk under the audit log (here /dev/full, which answers every write with ENOSPC)
    loses the security record: health says degraded and /metrics says which, the game goes on."""
    audit = services.audit
    assert audit is not None
    audit.close()
    path = audit.path_for(datetime.now(UTC))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.symlink_to("/dev/full")
    bad = await client.post("/auth/login", json={"username": "admin", "password": "wrong"})
    assert bad.status_code == 401  # the login is still answered
    health = await client.get("/api/health")
    assert health.status_code == 200 and health.json()["audit"] == "degraded", health.json()
    assert health.json()["status"] == "degraded"
    text = (await client.get("/metrics")).text
    assert "mythos_audit_log_healthy 0.0" in text, text
    errors = [line for line in text.splitlines() if line.startswith("mythos_audit_log_write_errors_total ")]
    assert errors and float(errors[0].split()[1]) >= 1, errors
