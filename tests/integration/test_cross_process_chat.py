"""Two mythos processes on one nats-server see each other's room chat."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mythos.auth import InviteStore
from mythos.local_nats import LocalNatsServer, free_port
from tests.factories import ADMIN_PASSWORD, JWT_SECRET, PASSWORD, unique_name
from tests.integration.realtime_clients import ws_player

pytestmark = pytest.mark.integration

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def _env(tmp: Path, name: str, port: int, nats_url: str, invites: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SERVER_", "NATS_", "DATABASE_", "LOG"))}
    env.update(
        {
            "MYTHOS_ENV_FILE": "",
            "SERVER_HOST": "127.0.0.1",
            "SERVER_PORT": str(port),
            # One database, as a real multi-process deployment has: player ids are global.
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'shared.db'}",
            "NPC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'npcs.db'}",
            "NATS_ENABLED": "true",
            "NATS_URL": nats_url,
            "MYTHOSMUD_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MYTHOSMUD_JWT_SECRET": JWT_SECRET,
            "INVITE_CODES_FILE": str(invites),
            "LOGGING_ENVIRONMENT": "e2e_test",
            "LOG_BASE_DIR": str(tmp / f"logs-{name}"),
            "LOG_LEVEL": "WARNING",
            "HEARTBEAT_INTERVAL": "1.0",
        }
    )
    return env


def _wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mythos exited with {proc.returncode}")
        try:
            body = httpx.get(f"{url}/api/health", timeout=1).json()
            if body.get("nats") == "ok":
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not healthy after {START_TIMEOUT_S} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)


@pytest.fixture
def two_servers(tmp_path: Path, nats_server: LocalNatsServer) -> Iterator[list[str]]:
    invites = tmp_path / "invites.json"
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for name in ("alpha", "beta"):
            port = free_port()
            log = (tmp_path / f"{name}.out").open("wb")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "mythos", "serve"],
                    env=_env(tmp_path, name, port, nats_server.url, invites),
                    cwd=tmp_path,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()
            urls.append(f"http://127.0.0.1:{port}")
            # One at a time: the first creates the shared tables and the admin account.
            _wait_healthy(urls[-1], procs[-1])
        yield urls
    finally:
        for proc in procs:
            _stop(proc)


def _account(base_url: str, invites: InviteStore) -> tuple[str, str]:
    name = unique_name("xp")
    with httpx.Client(base_url=base_url, timeout=10) as c:
        code = invites.create(1)[0]
        r = c.post("/auth/register", json={"username": name, "password": PASSWORD, "invite_code": code})
        assert r.status_code == 201, r.text
        r = c.post("/auth/login", json={"username": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return name, r.json()["access_token"]


@pytest.mark.slow  # a long real outage: make verify only; make test keeps the shorter ones
async def test_room_chat_crosses_processes(two_servers: list[str], tmp_path: Path) -> None:
    invites = InviteStore(tmp_path / "invites.json")
    alpha, beta = two_servers
    name_a, token_a = _account(alpha, invites)
    name_b, token_b = _account(beta, invites)
    ws_a, ws_b = (u.replace("http://", "ws://") for u in (alpha, beta))
    async with ws_player(ws_a, token_a, "sa") as a, ws_player(ws_b, token_b, "sb") as b:
        await a.until_event("room_state")
        await b.until_event("room_state")
        said = await a.command("say can you hear me across the void")
        assert said["data"]["ok"] is True
        heard = await b.until_event("chat")
        assert heard["data"]["sender_name"] == name_a
        assert heard["data"]["content"] == "can you hear me across the void"
        assert heard["data"]["message_id"] == said["data"]["message_id"]
        await b.command("emote nods slowly")
        seen = await a.until(lambda m: m.get("event_type") == "chat" and m["data"]["channel"] == "emote")
        assert seen["data"]["sender_name"] == name_b
        # Movement in one process is announced in the other.
        await b.command("north")
        left = await a.until_event("player_left")
        assert left["data"]["player_name"] == name_b
