"""A PostgreSQL restart under a live server: "try again" for what needs the database, chat flows on.

The session's real PostgreSQL (SIGKILLed, then restarted) behind a real uvicorn and nats-server.
While it is down: a move, an alias definition, a registration, a login and the HTTP command path
are refused with ``database_unavailable`` and a retry hint (503 + Retry-After over REST, an error
frame over WebSocket) instead of a 500 or a dropped socket; say reaches the room; health says the
database is down. Nothing is half-written: the refused move did not move the player, the refused
alias does not exist and the refused registration did not use up its invite code. After the
restart everything works again without restarting the game server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from harness.services.postgres import PostgresServer
from mythos.local_nats import LocalNatsServer
from tests.factories import PASSWORD, database_section, make_config, unique_name
from tests.integration.conftest import LiveServer
from tests.integration.realtime_clients import ws_player

pytestmark = pytest.mark.integration

CLOSE_TRY_AGAIN_LATER = 1013


@pytest.fixture
def outage_pg(postgres_server: PostgresServer) -> Iterator[PostgresServer]:
    """The session's PostgreSQL (initdb costs seconds), running again after the test whatever happens."""
    if not postgres_server.ping():
        postgres_server.restart()
    try:
        yield postgres_server
    finally:
        if not postgres_server.ping():
            postgres_server.restart()


@pytest.fixture
def server(tmp_path: Path, nats_server: LocalNatsServer, outage_pg: PostgresServer) -> Iterator[LiveServer]:
    url = outage_pg.create_database(f"outage_{unique_name('db').lower()}")
    config = make_config(tmp_path, nats={"enabled": True, "url": nats_server.url},
                         database=database_section(url, tmp_path))
    live = LiveServer(config).start()
    try:
        yield live
    finally:
        live.stop()


def _token(server: LiveServer, name: str) -> str:
    return str(server.register_and_login(name, PASSWORD)["access_token"])


def _assert_retry_later(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    body: dict[str, Any] = response.json()
    assert body["error_type"] == "database_unavailable", body
    assert "try again" in body["message"]
    assert int(response.headers["Retry-After"]) == body["retry_after"] > 0
    return body


def _is_error(error_type: str) -> Any:
    return lambda m: m.get("type") == "error" and m.get("error_type") == error_type


async def test_a_database_restart_refuses_what_needs_it_and_chat_keeps_flowing(
    server: LiveServer, outage_pg: PostgresServer
) -> None:
    alice, bob = unique_name("al"), unique_name("bo")
    alice_token, bob_token = _token(server, alice), _token(server, bob)
    spare_invite = server.invites.create(1)[0]
    async with (
        ws_player(server.ws_url, alice_token, "a") as a,
        ws_player(server.ws_url, bob_token, "b") as b,
        httpx.AsyncClient(base_url=server.http_url, timeout=15) as http,
    ):
        await a.until_event("room_state")
        await b.until_event("room_state")
        await asyncio.to_thread(outage_pg.kill)

        health = await http.get("/api/health")
        assert health.json()["database"] == "down"

        # Chat needs no database: Bob hears Alice.
        said = await a.command("say still here")
        assert said.get("type") != "error", said
        heard = await b.until(lambda m: m.get("event_type") == "chat" and m["data"]["content"] == "still here")
        assert heard["data"]["sender_name"] == alice

        # A move is refused whole: an error frame with a retry hint, and nobody saw Alice leave.
        moved = await a.command("n")
        assert (moved["type"], moved["error_type"]) == ("error", "database_unavailable"), moved
        assert moved["retry_after"] > 0 and "try again" in moved["message"]
        defined = await a.command("alias peek look")
        assert (defined["type"], defined["error_type"]) == ("error", "database_unavailable"), defined

        # REST: register, login and the HTTP command path answer 503 with Retry-After.
        _assert_retry_later(await http.post(
            "/auth/register",
            json={"username": unique_name("ne"), "password": PASSWORD, "invite_code": spare_invite},
        ))
        _assert_retry_later(await http.post("/auth/login", json={"username": alice, "password": PASSWORD}))
        _assert_retry_later(await http.post(
            "/api/commands", json={"command": "look"}, headers={"Authorization": f"Bearer {alice_token}"}
        ))
        # A new WebSocket is told why and closed with "try again later", not dropped.
        async with connect(f"{server.ws_url}/api/ws?token={bob_token}&session_id=b2", open_timeout=10) as ws:
            frame = await asyncio.wait_for(ws.recv(), 10)
            assert '"database_unavailable"' in str(frame)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_TRY_AGAIN_LATER

        await asyncio.to_thread(outage_pg.restart)

        # The same server, without a restart of its own: the refused things did not happen ...
        looked = await a.command("look")
        assert looked["data"]["ok"] is True and "Independence Square" in looked["data"]["text"], looked
        assert "You have no aliases" in (await a.command("aliases"))["data"]["text"]
        # Bob's own command after the restart: everything sent to him before it has arrived by then.
        assert (await b.command("look"))["data"]["ok"] is True
        assert not [m for m in b.pending if m.get("event_type") == "player_left"], b.pending
        # ... and now work.
        moved = await a.command("n")
        assert moved["data"]["ok"] is True, moved
        left = await b.until_event("player_left")  # what Bob would have seen had the refused move run
        assert left["data"]["player_name"] == alice
        registered = await http.post(
            "/auth/register",
            json={"username": unique_name("ne"), "password": PASSWORD, "invite_code": spare_invite},
        )
        assert registered.status_code == 201, registered.text
        assert (await http.get("/api/health")).json()["database"] == "ok"
