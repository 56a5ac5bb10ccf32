"""WebSocket costs before the limits (issue 12, item 6): the rate check comes before the database,
and pings and invalid frames spend a per-connection budget; a connection that keeps sending
them is closed with 1008 (policy violation) and a reason."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from mythos.app import create_app
from mythos.realtime.websocket import CLOSE_POLICY_VIOLATION
from mythos.services import AppServices
from tests.factories import PASSWORD, make_config

MAX_FRAMES = 200  # far past any budget: a server without one answers them all


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    # Buckets that do not refill during a test, so the counts below are exact; the heartbeat is
    # slow enough for that ping budget (the config refuses a pairing whose client pings loop).
    server = {"ws_pings_per_second": 0.01, "heartbeat_interval": 100.0, "ws_bad_frames_per_minute": 0.01}
    return create_app(make_config(tmp_path, server=server))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def _services(app: FastAPI) -> AppServices:
    services: AppServices = app.state.services
    return services


def _token(client: TestClient, services: AppServices, name: str) -> str:
    code = services.auth.invites.create(1)[0]
    r = client.post("/auth/register", json={"username": name, "password": PASSWORD, "invite_code": code})
    assert r.status_code == 201, r.text
    r = client.post("/auth/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _reply(ws: WebSocketTestSession) -> dict[str, Any]:
    """The next answer to a frame (an error, a pong or a command result), skipping events."""
    while True:
        msg: dict[str, Any] = ws.receive_json()
        if msg.get("type") in ("error", "pong") or msg.get("event_type") == "command_result":
            return msg


def _send_until_closed(
    ws: WebSocketTestSession, frame: str | bytes
) -> tuple[int, list[dict[str, Any]], WebSocketDisconnect]:
    """Send `frame` and read its answer until the server closes; (frames sent, answers, close)."""
    answers: list[dict[str, Any]] = []
    for sent in range(1, MAX_FRAMES + 1):
        if isinstance(frame, bytes):
            ws.send_bytes(frame)
        else:
            ws.send_text(frame)
        try:
            answers.append(_reply(ws))
        except WebSocketDisconnect as closed:
            return sent, answers, closed
    pytest.fail(f"the server answered {MAX_FRAMES} bad frames and never closed: {answers[-3:]}")


def test_a_rate_limited_command_does_not_read_the_database(app: FastAPI, client: TestClient) -> None:
    services = _services(app)
    limit = services.config.security.rate_limit_max_commands
    token = _token(client, services, "Hasty")
    reads: list[int] = []
    real_get_player = services.db.get_player

    async def counting_get_player(player_id: int) -> Any:
        reads.append(player_id)
        return await real_get_player(player_id)

    with client.websocket_connect(f"/api/ws?token={token}&session_id=rate") as ws:
        services.db.get_player = counting_get_player  # type: ignore[method-assign]
        for _ in range(limit + 1):
            ws.send_json({"type": "command", "data": {"command": "look"}})
        replies = [_reply(ws) for _ in range(limit + 1)]
    refused = [r for r in replies if r.get("error_type") == "rate_limited"]
    assert len(refused) == 1
    assert all(r["retry_after"] > 0 for r in refused)
    # Only the commands that passed the rate check read the player.
    assert len(reads) == limit, reads


def test_a_connection_past_its_rate_limit_is_not_read_until_its_window_has_room(
    app: FastAPI, client: TestClient
) -> None:
    """ircd's "fake lag": past the limit the reader answers one refusal, then holds the socket
    until the window has room, so a flood costs the server about one frame per window instead of
    one parse, audit and answer per frame (20,000 frames in 3.3 s saturated the loop and pushed
    compliant players' p99 to 551 ms). Held commands are read later, not dropped."""
    services = _services(app)
    limit = services.config.security.rate_limit_max_commands
    token = _token(client, services, "Flooder")
    window = services.config.security.rate_limit_window_seconds
    with client.websocket_connect(f"/api/ws?token={token}&session_id=lag") as ws:
        started = time.monotonic()  # before the first command opened the window
        for _ in range(limit + 10):
            ws.send_json({"type": "command", "data": {"command": "look"}})
        replies = []
        for _ in range(limit + 2):
            reply = _reply(ws)
            replies.append((time.monotonic(), reply))
    assert all(r.get("error_type") is None for _, r in replies[:limit]), replies[:limit]
    _, refusal = replies[limit]
    assert refusal["error_type"] == "rate_limited"
    # Without the hold the next frame is refused at once; with it, it is read once the window has
    # room, and runs. The window opened after `started`, so however late this side reads, that
    # answer cannot come before `started + window` (a lower bound that load cannot break).
    next_at, after = replies[limit + 1]
    assert after.get("error_type") is None, after
    assert next_at - started >= window - 0.01, (next_at - started, refusal)


@pytest.mark.parametrize(
    "frame",
    [
        "not json at all",
        "[1, 2, 3]",
        json.dumps({"type": "bogus"}),
        json.dumps({"type": "command"}),
        json.dumps({"type": "command", "data": {"command": 7}}),
        "x" * 20_000,
        b"\xff\xfe binary garbage",
    ],
    ids=["text", "array", "unknown-type", "no-data", "non-string-command", "oversized", "binary"],
)
def test_a_connection_that_keeps_sending_garbage_is_closed(
    app: FastAPI, client: TestClient, frame: str | bytes
) -> None:
    services = _services(app)
    burst = services.config.server.ws_bad_frame_burst
    token = _token(client, services, "Garbler")
    with client.websocket_connect(f"/api/ws?token={token}&session_id=garbage") as ws:
        sent, answers, closed = _send_until_closed(ws, frame)
    assert closed.code == CLOSE_POLICY_VIOLATION == 1008
    assert "invalid frames" in closed.reason
    # The first frames of a burst are answered (a buggy client learns why), then the close.
    assert sent == burst + 1
    assert all(a["type"] == "error" and a["error_type"] == "invalid_message" for a in answers)
    assert services.connections.connection_count() == 0


def test_a_ping_flood_is_closed_after_the_ping_and_bad_frame_budgets(app: FastAPI, client: TestClient) -> None:
    services = _services(app)
    pings, burst = services.config.server.ws_ping_burst, services.config.server.ws_bad_frame_burst
    token = _token(client, services, "Pinger")
    with client.websocket_connect(f"/api/ws?token={token}&session_id=pings") as ws:
        sent, answers, closed = _send_until_closed(ws, json.dumps({"type": "ping"}))
    assert closed.code == 1008 and "ping" in closed.reason
    assert [a["type"] for a in answers[:pings]] == ["pong"] * pings
    assert all(a.get("error_type") == "rate_limited" for a in answers[pings:])
    assert sent == pings + burst + 1


def test_pings_at_the_client_pace_and_commands_cost_no_bad_frames(tmp_path: Path) -> None:
    app = create_app(make_config(tmp_path, server={"ws_pings_per_second": 50.0}))
    services = _services(app)
    pings, burst = services.config.server.ws_ping_burst, services.config.server.ws_bad_frame_burst
    with TestClient(app) as client:
        token = _token(client, services, "Steady")
        with client.websocket_connect(f"/api/ws?token={token}&session_id=steady") as ws:
            for _ in range(burst + 2):  # more rounds than the bad-frame budget, each within it
                for _ in range(pings):
                    ws.send_json({"type": "ping"})
                    assert _reply(ws)["type"] == "pong"
                ws.send_json({"type": "command", "data": {"command": "look"}})
                assert _reply(ws)["event_type"] == "command_result"
                time.sleep(pings / services.config.server.ws_pings_per_second + 0.02)  # the bucket refills
            # One invalid frame is answered; the connection stays.
            ws.send_text("oops")
            assert _reply(ws)["error_type"] == "invalid_message"
            ws.send_json({"type": "ping"})
            assert _reply(ws)["type"] == "pong"
            assert services.connections.connection_count() == 1
