"""`who` lists the whole world, and a dead server's players leave it within the presence TTL.

Two servers run in this process; a third is a real `python -m mythos serve` process, so it can be
killed with SIGKILL (no clean shutdown deletes its presence key). Prints how long the killed
server's player stayed listed (run with -s).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mythos.local_nats import LocalNatsServer, free_port
from tests.factories import ADMIN_PASSWORD, JWT_SECRET, PASSWORD, unique_name
from tests.integration.cluster.conftest import ClusterServer, register, start_world, wait_until
from tests.integration.realtime_clients import WSPlayer, ws_player

pytestmark = pytest.mark.integration

REFRESH_S = 0.5
TTL_S = 1.5
START_TIMEOUT_S = 30.0


class ServeProcess:
    """A real `mythos serve` of the same world (database, JWT secret, NATS), stopped by PID."""

    def __init__(self, root: Path, nats_url: str) -> None:
        self.port = free_port()
        self.log = root / "serve.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SERVER_", "NATS_", "DATABASE_", "LOG"))}
        env.update(
            {
                "MYTHOS_ENV_FILE": "",
                "SERVER_HOST": "127.0.0.1",
                "SERVER_PORT": str(self.port),
                "MYTHOS_INSTANCE_ID": "test-proc",
                "DATABASE_URL": f"sqlite+aiosqlite:///{root / 'world.db'}",
                "NPC_DATABASE_URL": f"sqlite+aiosqlite:///{root / 'npcs.db'}",
                "DATA_DIR": str(root / "proc-data"),
                "NATS_ENABLED": "true",
                "NATS_URL": nats_url,
                "MYTHOSMUD_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "MYTHOSMUD_JWT_SECRET": JWT_SECRET,
                "INVITE_CODES_FILE": str(root / "invites.json"),
                "LOGGING_ENVIRONMENT": "e2e_test",
                "LOG_BASE_DIR": str(root / "proc-logs"),
                "LOG_LEVEL": "WARNING",
                "CLUSTER_SESSIONS": "true",
                "CLUSTER_PRESENCE_REFRESH_SECONDS": str(REFRESH_S),
                "CLUSTER_PRESENCE_TTL_SECONDS": str(TTL_S),
            }
        )
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mythos", "serve"], env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mythos exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/api/health", timeout=1).json().get("nats") == "ok":
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        raise TimeoutError("mythos serve did not become healthy")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def three_servers(tmp_path: Path, nats_server: LocalNatsServer) -> Iterator[tuple[list[ClusterServer], ServeProcess]]:
    servers = start_world(tmp_path, [nats_server.url, nats_server.url])  # refresh and TTL as below
    proc = ServeProcess(tmp_path, nats_server.url)
    try:
        proc.wait_healthy()
        yield servers, proc
    finally:
        proc.kill()
        for server in servers:
            server.stop()


async def _who(player: WSPlayer) -> dict[str, str]:
    """Name -> room line of `who`, as the player sees it."""
    reply = await player.command("who")
    lines = reply["data"]["text"].splitlines()[1:]
    return dict(line.strip().split(" - ", 1) for line in lines)


async def test_who_lists_every_server_and_drops_a_dead_servers_players_within_the_ttl(
    three_servers: tuple[list[ClusterServer], ServeProcess],
) -> None:
    (a, b), proc = three_servers
    names = [unique_name("who") for _ in range(3)]
    tokens = [await register(a, name, PASSWORD) for name in names]
    async with (
        ws_player(a.ws_url, tokens[0], "w0") as on_a,
        ws_player(b.ws_url, tokens[1], "w1") as on_b,
        ws_player(proc.ws_url, tokens[2], "w2") as on_proc,
    ):
        for player in (on_a, on_b, on_proc):
            await player.until_event("room_state")
        seen: dict[str, str] = {}

        async def everyone() -> bool:
            seen.update(await _who(on_a))
            return all(name in seen for name in names)

        deadline = time.monotonic() + 5.0
        while not await everyone():
            assert time.monotonic() < deadline, f"who on A: {seen}"
        # The same world from each server, one line per player.
        for player in (on_b, on_proc):
            listed = await _who(player)
            assert set(names) <= set(listed), listed
        # A move on B shows in A's `who`.
        moved = await on_b.command("go north")
        assert moved["data"]["ok"] is True, moved
        deadline = time.monotonic() + 3.0
        while (await _who(on_a)).get(names[1]) == seen[names[1]]:
            assert time.monotonic() < deadline, "the move on B never reached A's who"

        proc.kill()
        killed_at = time.monotonic()
        while names[2] in await _who(on_a):
            assert time.monotonic() - killed_at < TTL_S + 1.0, "a dead server's player outlived the TTL"
        gone_after = time.monotonic() - killed_at
        print(f"\npresence_expiry_s={gone_after:.2f} ttl={TTL_S} refresh={REFRESH_S}")
        assert names[0] in await _who(on_a) and names[1] in await _who(on_a)

    # A clean stop deletes the server's key: its players leave at once, not after the TTL.
    b.stop()
    stopped_at = time.monotonic()
    async with ws_player(a.ws_url, tokens[0], "w0") as on_a:
        while names[1] in await _who(on_a):
            assert time.monotonic() - stopped_at < TTL_S, "a cleanly stopped server waited for the TTL"
    presence = a.services.cluster.presence if a.services.cluster else None
    assert presence is not None
    metrics = a.services.metrics

    def alone() -> bool:
        # B's last list (its players gone) may land just before its key's deletion.
        return presence.remote_players() == [] and metrics.get_cluster_metrics()["presence_servers"] == 1

    await wait_until(alone, "no other server left")
