"""The game over real HTTP, SSE and WebSocket against a real uvicorn and a real nats-server.

The tests that persist players (register, login, a move, the HTTP command path's player read)
run on SQLite and on PostgreSQL (``db_url``); the transport tests run on SQLite only.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from mythos.commands.context import Actor
from mythos.commands.security import SecurityVerdict
from mythos.local_nats import LocalNatsServer
from tests.factories import JWT_SECRET, PASSWORD, database_section, make_config, unique_name
from tests.integration.conftest import LiveServer
from tests.integration.realtime_clients import sse, ws_player
from tests.security_doubles import PermissiveSecurity

pytestmark = pytest.mark.integration


@pytest.fixture
def db_server(tmp_path: Path, nats_server: LocalNatsServer, db_url: str) -> Iterator[LiveServer]:
    """The live server of ``live_server``, once per database engine."""
    config = make_config(
        tmp_path,
        nats={"enabled": True, "url": nats_server.url},
        server={"heartbeat_interval": 0.3},
        database=database_section(db_url, tmp_path),
    )
    server = LiveServer(config).start()
    try:
        yield server
    finally:
        server.stop()


def _login(server: LiveServer, name: str | None = None) -> tuple[str, str, int]:
    name = name or unique_name()
    body = server.register_and_login(name, PASSWORD)
    return name, str(body["access_token"]), int(body["player_id"])  # type: ignore[call-overload]


async def test_health_reports_database_and_nats(db_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=db_server.http_url) as c:
        r = await c.get("/api/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.json()["database"] == "ok"
    assert r.json()["nats"] == "ok"


async def test_register_login_and_play_over_websocket(db_server: LiveServer) -> None:
    name, token, player_id = _login(db_server)
    async with ws_player(db_server.ws_url, token, "s1") as p:
        state = await p.until_event("room_state")
        assert state["data"]["room"]["id"] == "arkham_square"
        assert name in state["data"]["occupants"]
        assert state["player_id"] == player_id
        result = await p.command("look")
        assert "Independence Square" in result["data"]["text"]
        moved = await p.command("n")
        assert moved["data"]["ok"] is True
        state = await p.until(
            lambda m: m.get("event_type") == "room_state" and m["data"]["room"]["id"] == "miskatonic_gate"
        )
        assert state["room_id"] == "miskatonic_gate"
        await p.command("say hello from the gate")
        chat = await p.until_event("chat")
        assert chat["data"]["content"] == "hello from the gate"
        assert chat["data"]["sender_name"] == name
        assert chat["data"]["channel"] == "say"
        await p.conn.send(json.dumps({"type": "ping"}))
        pong = await p.until(lambda m: m.get("type") == "pong")
        assert "timestamp" in pong
        unknown = await p.command("dance wildly")
        assert unknown["data"]["ok"] is False
        assert unknown["data"]["error_type"] == "unknown_command"
        # Command security refuses an admin command by a non-admin before it runs: an error frame.
        forbidden = await p.command("teleport admin")
        assert (forbidden["type"], forbidden["error_type"]) == ("error", "forbidden")


async def test_sequence_numbers_are_shared_between_sse_and_websocket(live_server: LiveServer) -> None:
    _, token, _ = _login(live_server)
    async with sse(live_server.http_url, token, "shared") as events:
        first = await events.until("room_state")
        assert first.id is not None
        async with ws_player(live_server.ws_url, token, "shared") as p:
            result = await p.command("look")
        sse_result = await events.until("command_result")
        assert sse_result.id == result["sequence_number"]
        assert sse_result.id is not None and first.id is not None and sse_result.id > first.id


async def test_second_transport_of_a_live_session_does_not_repeat_the_room(live_server: LiveServer) -> None:
    """The client opens SSE then WS for one session: the room is described once, not twice."""
    _, token, _ = _login(live_server)
    async with sse(live_server.http_url, token, "once") as events:
        await events.until("room_state")
        async with ws_player(live_server.ws_url, token, "once") as p:
            await p.command("who")
        kinds = []
        while not kinds or kinds[-1] != "command_result":
            kinds.append((await events.next()).event)
        assert "room_state" not in kinds, kinds


async def test_sse_heartbeats_carry_no_id(live_server: LiveServer) -> None:
    _, token, _ = _login(live_server)
    async with sse(live_server.http_url, token, "hb") as events:
        beat = await events.until("heartbeat", timeout=5)
        assert beat.id is None


async def test_sse_last_event_id_replays_missed_events(live_server: LiveServer) -> None:
    _, token, _ = _login(live_server)
    async with sse(live_server.http_url, token, "a1") as events:
        seen = await events.until("room_state")
    # While the stream is down, an HTTP command produces an event for this player.
    async with httpx.AsyncClient(base_url=live_server.http_url) as c:
        r = await c.post(
            "/api/commands", json={"command": "look"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200
    async with sse(live_server.http_url, token, "a1", last_event_id=seen.id) as events:
        advert = await events.next()  # every stream starts by advertising the heartbeat interval
        missed = await events.next()
        fresh = await events.next()
    assert (advert.event, advert.id) == ("heartbeat", None)
    assert seen.id is not None
    assert (missed.event, missed.id) == ("room_state", seen.id + 1)
    assert (fresh.event, fresh.id) == ("room_state", seen.id + 2)


async def test_room_chat_missed_during_a_drop_is_replayed(live_server: LiveServer) -> None:
    _, token_a, _ = _login(live_server)
    name_b, token_b, _ = _login(live_server)
    async with ws_player(live_server.ws_url, token_a, "a") as a:
        last = await a.until_event("room_state")
    async with ws_player(live_server.ws_url, token_b, "b") as b:
        await b.until_event("room_state")
        await b.command("say did you hear that")
        await b.until_event("chat")
    async with ws_player(live_server.ws_url, token_a, "a", last_event_id=last["sequence_number"]) as a:
        chat = await a.until_event("chat")
    assert chat["data"]["content"] == "did you hear that"
    assert chat["data"]["sender_name"] == name_b
    assert chat["sequence_number"] > last["sequence_number"]


async def test_websocket_replay_is_in_order_and_complete(live_server: LiveServer) -> None:
    _, token, _ = _login(live_server)
    async with ws_player(live_server.ws_url, token, "r1") as p:
        state = await p.until_event("room_state")
        await p.command("who")
        await p.command("help")
        # Wait until both results are through, so none is in flight when the socket closes.
        await asyncio.sleep(0)
    async with ws_player(live_server.ws_url, token, "r1", last_event_id=state["sequence_number"]) as p:
        got = [await p.recv() for _ in range(3)]
    start = state["sequence_number"]
    assert [(m["event_type"], m["sequence_number"]) for m in got] == [
        ("command_result", start + 1),
        ("command_result", start + 2),
        ("room_state", start + 3),
    ]
    assert [m["data"]["command"] for m in got[:2]] == ["who", "help"]


async def test_new_session_evicts_the_old_one(live_server: LiveServer) -> None:
    _, token, _ = _login(live_server)
    async with ws_player(live_server.ws_url, token, "old") as old:
        await old.until_event("room_state")
        async with ws_player(live_server.ws_url, token, "new") as new:
            await new.until_event("room_state")
            evicted = await old.until_event("session_evicted")
            assert evicted["data"]["reason"] == "new_login"
            # Messages the wait skipped came before the eviction notice. After it, a heartbeat already
            # on its way may still arrive; nothing else may, then the close.
            old.pending.clear()
            after: list[object] = []
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    after.append(await old.recv(timeout=5))
            assert all(isinstance(m, dict) and m.get("event_type") == "heartbeat" for m in after), after
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4409
            still = await new.command("look")
            assert still["data"]["ok"] is True


async def test_bad_and_expired_tokens_are_refused(live_server: LiveServer) -> None:
    _, _, player_id = _login(live_server)
    past = datetime.now(UTC) - timedelta(hours=2)
    expired = jwt.encode(
        {"sub": str(player_id), "iat": past, "exp": past + timedelta(minutes=1), "typ": "access"},
        JWT_SECRET,
        algorithm="HS256",
    )
    for bad in ("not-a-token", expired):
        async with connect(f"{live_server.ws_url}/api/ws?token={bad}&session_id=x") as conn:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(conn.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        async with httpx.AsyncClient(base_url=live_server.http_url) as c:
            r = await c.get("/api/events", params={"token": bad, "session_id": "x"})
            assert r.status_code == 401
            r = await c.post(
                "/api/commands", json={"command": "look"}, headers={"Authorization": f"Bearer {bad}"}
            )
            assert r.status_code == 401


async def test_wrong_credentials_get_the_same_401(live_server: LiveServer) -> None:
    name, _, _ = _login(live_server)
    async with httpx.AsyncClient(base_url=live_server.http_url) as c:
        wrong_pw = await c.post("/auth/login", json={"username": name, "password": "wrong-password"})
        no_user = await c.post("/auth/login", json={"username": "nobody_here", "password": PASSWORD})
    assert wrong_pw.status_code == no_user.status_code == 401
    assert wrong_pw.json() == no_user.json()


async def test_http_command_endpoint_uses_the_pipeline(db_server: LiveServer) -> None:
    _, token, _ = _login(db_server)
    async with httpx.AsyncClient(base_url=db_server.http_url) as c:
        r = await c.post(
            "/api/commands", json={"command": "look"}, headers={"Authorization": f"Bearer {token}"}
        )
    assert r.status_code == 200
    assert r.json()["data"]["command"] == "look"
    assert "Exits:" in r.json()["data"]["text"]


async def test_websocket_protocol_errors_do_not_drop_the_connection(live_server: LiveServer) -> None:
    _, token, _ = _login(live_server)
    async with ws_player(live_server.ws_url, token, "proto") as p:
        await p.until_event("room_state")
        for frame in (
            "not json",
            "[1, 2]",
            json.dumps({"type": "dance"}),
            json.dumps({"type": "command", "data": {}}),
        ):
            await p.conn.send(frame)
            err = await p.until(lambda m: m.get("type") == "error")
            assert err["error_type"] == "invalid_message" and err["message"]
        assert (await p.command("look"))["data"]["ok"] is True


async def test_quit_says_goodbye_and_closes_normally(live_server: LiveServer) -> None:
    _, token, _ = _login(live_server)
    async with ws_player(live_server.ws_url, token, "bye") as p:
        await p.until_event("room_state")
        result = await p.command("quit")
        assert result["data"]["quit"] is True and "Goodbye" in result["data"]["text"]
        # Frames already in flight (heartbeats, room events) may arrive before
        # the close frame; the socket must still close normally, and soon.
        late: list[dict[str, Any]] = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                late.append(await p.recv(timeout=5))
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
        assert all(m.get("event_type") != "command_result" for m in late), late


class _RefuseShouting(PermissiveSecurity):
    def validate(self, actor: Actor, command: str) -> SecurityVerdict:
        if command.isupper():
            return SecurityVerdict.deny("invalid_command", "No shouting.")
        if command == "explode":
            raise RuntimeError("a bug in a security check")
        return super().validate(actor, command)

    def check_rate(self, actor: Actor) -> SecurityVerdict:
        return (
            SecurityVerdict.deny("rate_limited", "Slow down.", 0.5)
            if actor.name.startswith("slow")
            else super().check_rate(actor)
        )


@pytest.fixture
def guarded_server(tmp_path: Path, nats_server: LocalNatsServer) -> Iterator[LiveServer]:
    config = make_config(tmp_path, nats={"enabled": True, "url": nats_server.url})
    server = LiveServer(config, security=_RefuseShouting()).start()
    try:
        yield server
    finally:
        server.stop()


async def test_security_refusals_arrive_as_error_frames(guarded_server: LiveServer) -> None:
    _, token, _ = _login(guarded_server)
    async with ws_player(guarded_server.ws_url, token, "g") as p:
        await p.until_event("room_state")
        err = await p.command("LOOK")
        assert err == {"type": "error", "error_type": "invalid_command", "message": "No shouting."}
        boom = await p.command("explode")
        assert boom["error_type"] == "internal_error"
        assert (await p.command("look"))["data"]["ok"] is True
    _, slow_token, _ = _login(guarded_server, unique_name("slow"))
    async with ws_player(guarded_server.ws_url, slow_token, "s") as p:
        await p.until_event("room_state")
        err = await p.command("look")
        assert (err["error_type"], err["retry_after"]) == ("rate_limited", 0.5)


async def test_sse_stream_ends_when_a_new_session_takes_over(live_server: LiveServer) -> None:
    _, token, _ = _login(live_server)
    async with sse(live_server.http_url, token, "first") as events:
        await events.until("room_state")
        async with ws_player(live_server.ws_url, token, "second") as p:
            await p.until_event("room_state")
            evicted = await events.until("session_evicted")
            assert evicted.id is None
            with pytest.raises(EOFError):
                await events.next()


async def test_binary_frames_are_read_as_text(live_server: LiveServer) -> None:
    _, token, _ = _login(live_server)
    async with ws_player(live_server.ws_url, token, "bin") as p:
        await p.until_event("room_state")
        await p.conn.send(json.dumps({"type": "ping"}).encode())
        assert (await p.until(lambda m: m.get("type") == "pong"))["type"] == "pong"
