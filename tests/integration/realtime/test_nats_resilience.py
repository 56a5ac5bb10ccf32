"""The game server through NATS faults, end to end: real nats-server (SIGKILLed and restarted on
the same port and JetStream store), two mythos apps on real sockets sharing one database and DLQ
directory, players on real WebSockets.

What is proved: chat the sender was told was sent reaches every player in the room; chat sent
while NATS was down is refused with a plain "queued" message, kept in the DLQ and sent by its own
server once NATS is back (or, with the outbox off, after an operator's replay); nobody sees a
message twice; everything but chat keeps working meanwhile. JetStream's file
store survives SIGKILL here because the data is in the page cache (not power loss).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from mythos.config import AppConfig
from tests.factories import ADMIN_PASSWORD, JWT_SECRET, PASSWORD, make_config, unique_name
from tests.integration.conftest import LiveServer
from tests.integration.realtime.conftest import NatsServer
from tests.integration.realtime_clients import WSPlayer, ws_player

pytestmark = pytest.mark.integration

OUTAGE_S = 10.0
RECOVERY_LIMIT_S = 20.0
SAY_TIMEOUT_S = 15.0  # a say caught by the kill waits out its publish retries before it is queued


def _nats_settings(url: str) -> dict[str, Any]:
    """Fast detection and recovery, the values a test (and an impatient operator) would pick."""
    return {
        "enabled": True,
        "use_jetstream": True,
        "url": url,
        "connect_timeout": 1.0,
        "reconnect_time_wait": 0.2,
        "max_reconnect_attempts": 5,
        "ping_interval": 0.5,
        "max_outstanding_pings": 2,
        "reconnect_watchdog_seconds": 3.0,
        "publish_retry_attempts": 2,
        "publish_retry_base_delay": 0.05,
        "publish_retry_max_delay": 0.2,
        "breaker_timeout_seconds": 1.0,
    }


def _instance_config(root: Path, name: str, nats_url: str, **nats: Any) -> AppConfig:
    """Instances share the database, invites and data dir (so the DLQ), like one host's deployment."""
    own = root / name
    own.mkdir(parents=True, exist_ok=True)
    return make_config(
        own,
        nats={**_nats_settings(nats_url), **nats},
        server={"data_dir": root / "data", "heartbeat_interval": 0.5},
        database={
            "url": f"sqlite+aiosqlite:///{root / 'shared.db'}",
            "npc_url": f"sqlite+aiosqlite:///{root / 'npcs.db'}",
        },
        security={"invite_codes_file": root / "invites.json"},
    )


@pytest.fixture
def two_instances(tmp_path: Path, killable_nats: NatsServer) -> Iterator[list[LiveServer]]:
    servers: list[LiveServer] = []
    try:
        for name in ("alpha", "beta"):  # one at a time: the first creates tables and the admin
            servers.append(LiveServer(_instance_config(tmp_path, name, killable_nats.url)).start())
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def one_instance(tmp_path: Path, killable_nats: NatsServer) -> Iterator[LiveServer]:
    # The outbox off (CHAT_OUTBOX_MAX_AGE=0): what it refuses is the operators', and this server
    # is the operators' tools (admin API and CLI) at work on the queue.
    config = _instance_config(tmp_path, "solo", killable_nats.url, chat_outbox_max_age_seconds=0)
    server = LiveServer(config).start()
    try:
        yield server
    finally:
        server.stop()


def _token(server: LiveServer, username: str = "", password: str = PASSWORD) -> tuple[str, str]:
    if username:
        with httpx.Client(base_url=server.http_url, timeout=10) as c:
            r = c.post("/auth/login", json={"username": username, "password": password})
            assert r.status_code == 200, r.text
            return username, str(r.json()["access_token"])
    name = unique_name("nr")
    return name, str(server.register_and_login(name, PASSWORD)["access_token"])


async def _health(client: httpx.AsyncClient, server: LiveServer) -> tuple[int, dict[str, Any]]:
    r = await client.get(f"{server.http_url}/api/health")
    body: dict[str, Any] = r.json()
    return r.status_code, body


async def _until(predicate: Any, timeout: float, step: float = 0.1) -> float | None:
    """Seconds until `predicate()` (an async callable) is true, or None on timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if await predicate():
            return time.monotonic() - started
        await asyncio.sleep(step)
    return None


@dataclass
class ChatLog:
    """What one player saw: every chat message_id with how many times it arrived."""

    player: WSPlayer
    seen: Counter[str] = field(default_factory=Counter)

    def absorb(self, msg: dict[str, Any]) -> None:
        if msg.get("event_type") == "chat":
            self.seen[str(msg["data"]["message_id"])] += 1

    async def say(self, text: str) -> dict[str, Any]:
        result = await self.player.command(f"say {text}", timeout=SAY_TIMEOUT_S)
        self._drain_pending()
        return result

    async def command(self, text: str) -> dict[str, Any]:
        result = await self.player.command(text, timeout=SAY_TIMEOUT_S)
        self._drain_pending()
        return result

    def _drain_pending(self) -> None:
        for msg in self.player.pending:
            self.absorb(msg)
        self.player.pending = [m for m in self.player.pending if m.get("event_type") != "chat"]

    async def collect(self, expected: set[str], timeout: float, settle: float = 1.0) -> None:
        """Read until every expected id arrived, then `settle` more seconds to catch duplicates."""
        self._drain_pending()
        deadline = time.monotonic() + timeout
        settle_until: float | None = None
        while True:
            now = time.monotonic()
            if settle_until is None and expected <= set(self.seen):
                settle_until = now + settle
            end = settle_until if settle_until is not None else deadline
            if now >= end:
                return
            try:
                self.absorb(await self.player.recv(timeout=end - now))
            except TimeoutError:
                return


@asynccontextmanager
async def _players(servers: list[LiveServer]) -> AsyncIterator[list[ChatLog]]:
    async with AsyncExitStack() as stack:
        logs = []
        for i, server in enumerate(servers):
            _name, token = _token(server)
            player = await stack.enter_async_context(ws_player(server.ws_url, token, f"nr-{i}"))
            await player.until_event("room_state")
            logs.append(ChatLog(player))
        yield logs


def _sent_or_queued(result: dict[str, Any], sent: set[str], queued: set[str]) -> None:
    assert "data" in result, result
    data = result["data"]
    if data["ok"]:
        sent.add(str(data["message_id"]))
    else:
        # Nothing fails silently: the sender is told, and the message has a DLQ entry.
        assert data["error_type"] == "chat_unavailable", data
        assert data["queued"] is True and data["dlq_id"], data
        assert "queued" in data["text"] and "resent" in data["text"], data["text"]
        queued.add(str(data["dlq_id"]))


@pytest.mark.slow  # a long real outage: make verify only; make test keeps the shorter ones
async def test_outage_of_ten_seconds_loses_no_chat(
    two_instances: list[LiveServer], killable_nats: NatsServer, tmp_path: Path
) -> None:
    alpha, _beta = two_instances
    admin = {"Authorization": f"Bearer {_token(alpha, 'admin', ADMIN_PASSWORD)[1]}"}
    sent: set[str] = set()
    queued: set[str] = set()
    async with _players(two_instances) as (a, b), httpx.AsyncClient(timeout=10) as http:
        for i in range(3):  # steady state: cross-instance chat both ways
            _sent_or_queued(await a.say(f"before {i}"), sent, queued)
            _sent_or_queued(await b.say(f"reply {i}"), sent, queued)
        assert len(sent) == 6 and not queued

        # SIGKILL mid-stream: alpha is chatting when nats-server dies.
        async def stream() -> None:
            for i in range(12):
                _sent_or_queued(await a.say(f"stream {i}"), sent, queued)
                await asyncio.sleep(0.15)  # under the 10 commands/s rate limit

        streaming = asyncio.create_task(stream())
        await asyncio.sleep(0.3)
        killable_nats.kill9()
        killed_at = time.monotonic()
        await streaming

        # The outage: chat refused plainly, everything else works, health degraded (HTTP 200).
        async def degraded() -> bool:
            statuses = [await _health(http, s) for s in two_instances]
            return all(code == 200 and body["nats"] == "degraded" for code, body in statuses)

        assert await _until(degraded, 8.0) is not None
        for code, body in [await _health(http, s) for s in two_instances]:
            assert (code, body["status"], body["database"]) == (200, "degraded", "ok")
        i = 0
        while time.monotonic() - killed_at < OUTAGE_S:
            _sent_or_queued(await a.say(f"dark {i}"), sent, queued)
            _sent_or_queued(await b.say(f"void {i}"), sent, queued)
            look = await a.command("look")
            assert look.get("data", {}).get("ok") is True, look
            for step in ("north", "south"):
                moved = await b.command(step)
                assert moved.get("data", {}).get("ok") is True, moved
            who = await a.command("who")
            assert who.get("data", {}).get("ok") is True, who
            alias = await b.command(f"alias nr{i} look")
            assert alias.get("error_type") != "chat_unavailable" and alias.get("type") != "error", alias
            i += 1
            await asyncio.sleep(0.6)  # b sends 4 commands a round: stay under 10 a second
        assert queued, "the outage queued nothing: was NATS really down?"
        metrics_text = (await http.get(f"{alpha.http_url}/metrics")).text
        assert 'mythos_nats_connection_state{state="connected"} 0.0' in metrics_text

        # Recovery: restart on the same port and store; time until both are healthy and chat flows.
        killable_nats.start()
        restarted_at = time.monotonic()

        async def healthy() -> bool:
            statuses = [await _health(http, s) for s in two_instances]
            return all(body["nats"] == "ok" for _code, body in statuses)

        healthy_after = await _until(healthy, RECOVERY_LIMIT_S)
        assert healthy_after is not None, "not healthy again after the restart"
        probe = await a.say("probe after recovery")
        assert probe["data"]["ok"] is True, probe
        probe_id = str(probe["data"]["message_id"])
        await b.collect({probe_id}, timeout=10, settle=0)
        chat_after = time.monotonic() - restarted_at
        sent.add(probe_id)

        # The outbox: each server sends the lines it queued itself, without an operator.
        for log in (a, b):
            await log.collect(queued, timeout=15)
        drained_after = time.monotonic() - restarted_at
        # Nothing is left for the admin replay; it would remove each entry only once acknowledged.
        r = await http.post(f"{alpha.http_url}/api/admin/dlq/replay", headers=admin)
        assert r.status_code == 200, r.text
        assert r.json()["pending"] == 0 and r.json()["replayed"] == 0, r.json()

        everything = sent | queued
        for log in (a, b):
            await log.collect(everything, timeout=15)
        for who_, log in (("alpha player", a), ("beta player", b)):
            missing = everything - set(log.seen)
            dupes = {m: n for m, n in log.seen.items() if m in everything and n > 1}
            assert not missing, f"{who_} never saw {sorted(missing)}"
            assert not dupes, f"{who_} saw duplicates {dupes}"
        print(
            f"\n[nats outage {OUTAGE_S:.0f}s] sent-and-delivered={len(sent)} "
            f"queued-in-DLQ-then-drained={len(queued)} lost=0 duplicates=0 "
            f"healthy {healthy_after:.2f}s after restart, chat flowing {chat_after:.2f}s after restart, "
            f"queued lines delivered {drained_after:.2f}s after restart"
        )
        m = (await http.get(f"{alpha.http_url}/api/metrics", headers=admin)).json()["nats"]
        assert m["reconnects"] >= 1 and m["messages_dlq_total"] >= 1 and m["dlq_depth"] == 0, m
        assert m["connection_state"] == "connected" and m["mode"] == "jetstream", m


@pytest.mark.slow  # a long real outage: make verify only; make test keeps the shorter ones
async def test_sigkill_and_immediate_restart_mid_stream(
    two_instances: list[LiveServer], killable_nats: NatsServer
) -> None:
    alpha, _beta = two_instances
    admin = {"Authorization": f"Bearer {_token(alpha, 'admin', ADMIN_PASSWORD)[1]}"}
    sent: set[str] = set()
    queued: set[str] = set()
    async with _players(two_instances) as (a, b), httpx.AsyncClient(timeout=10) as http:

        async def stream(log: ChatLog, tag: str) -> None:
            for i in range(15):
                _sent_or_queued(await log.say(f"{tag} {i}"), sent, queued)
                await asyncio.sleep(0.15)

        tasks = [asyncio.create_task(stream(a, "a")), asyncio.create_task(stream(b, "b"))]
        await asyncio.sleep(0.4)
        killable_nats.restart()  # SIGKILL, then start again on the same port and store

        async def healthy() -> bool:
            statuses = [await _health(http, s) for s in two_instances]
            return all(body["nats"] == "ok" for _code, body in statuses)

        # Polled from the restart on, while both players keep chatting.
        recovery = asyncio.create_task(_until(healthy, RECOVERY_LIMIT_S, step=0.05))
        await asyncio.gather(*tasks)
        healthy_after = await recovery
        assert healthy_after is not None
        if queued:
            r = await http.post(f"{alpha.http_url}/api/admin/dlq/replay", headers=admin)
            assert r.status_code == 200 and r.json()["pending"] == 0, r.text
        everything = sent | queued
        for log in (a, b):
            await log.collect(everything, timeout=15)
            assert everything <= set(log.seen)
            assert all(log.seen[m] == 1 for m in everything), log.seen
        print(
            f"\n[nats SIGKILL+restart] delivered={len(sent)} queued-then-replayed={len(queued)} lost=0 "
            f"duplicates=0 healthy {healthy_after:.2f}s after restart"
        )


async def test_metrics_endpoints(one_instance: LiveServer) -> None:
    server = one_instance
    admin = {"Authorization": f"Bearer {_token(server, 'admin', ADMIN_PASSWORD)[1]}"}
    player = {"Authorization": f"Bearer {_token(server)[1]}"}
    async with _players([server]) as (a,), httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        said = await a.say("counted")
        await a.collect({str(said["data"]["message_id"])}, timeout=5, settle=0)
        r = await http.get("/metrics")  # no token: meant for a scraper on loopback
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = r.text
        for line in (
            'mythos_nats_messages_processed_total{channel="say"} 1.0',
            'mythos_nats_circuit_breaker_state{state="closed"} 1.0',
            'mythos_nats_connection_state{state="connected"} 1.0',
            "mythos_nats_dlq_depth 0.0",
            "mythos_nats_reconnects_total 0.0",
        ):
            assert line in text, line
        assert "mythos_nats_publish_latency_seconds_count" in text
        assert (await http.get("/api/metrics")).status_code == 401
        assert (await http.get("/api/metrics", headers={"Authorization": "Bearer nonsense"})).status_code == 401
        assert (await http.get("/api/metrics", headers=player)).status_code == 403
        r = await http.get("/api/metrics", headers=admin)
        assert r.status_code == 200
        body = r.json()
        assert body["nats"]["messages_processed"]["say"] >= 1 and "timestamp" in body
        assert body["nats"]["publish_count"] >= 1 and body["nats"]["circuit_breaker_state"] == "closed"


def _cli_env(config: AppConfig, cwd: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SERVER_", "NATS_", "DATABASE_", "LOG"))}
    env.update(
        {
            "MYTHOS_ENV_FILE": "",
            "SERVER_PORT": str(config.server.port),
            "DATABASE_URL": config.database.url,
            "NPC_DATABASE_URL": config.database.npc_url,
            "DATA_DIR": str(config.server.data_dir),
            "NATS_URL": config.nats.url,
            "NATS_CONNECT_TIMEOUT": "1",
            "MYTHOSMUD_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MYTHOSMUD_JWT_SECRET": JWT_SECRET,
            "LOGGING_ENVIRONMENT": "unit_test",
            "LOG_BASE_DIR": str(cwd / "cli-logs"),
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


def _cli(config: AppConfig, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mythos", "dlq", *args],
        env=_cli_env(config, cwd),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_dlq_admin_endpoints_and_cli(one_instance: LiveServer, killable_nats: NatsServer, tmp_path: Path) -> None:
    server = one_instance
    admin = {"Authorization": f"Bearer {_token(server, 'admin', ADMIN_PASSWORD)[1]}"}
    player = {"Authorization": f"Bearer {_token(server)[1]}"}
    queued: list[str] = []
    async with _players([server]) as (a,), httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        killable_nats.kill9()

        async def down() -> bool:
            return (await _health(http, server))[1]["nats"] == "degraded"

        assert await _until(down, 8.0) is not None
        for text in ("first lost words", "second lost words", "third lost words"):
            result = await a.say(text)
            assert result["data"]["queued"] is True, result
            queued.append(str(result["data"]["dlq_id"]))

        base = "/api/admin/dlq"
        assert (await http.get(base)).status_code == 401
        assert (await http.get(base, headers=player)).status_code == 403
        assert (await http.post(f"{base}/replay", headers=player)).status_code == 403
        listing = (await http.get(base, headers=admin)).json()
        assert listing["pending"] == 3 and {e["id"] for e in listing["entries"]} == set(queued)
        shown = (await http.get(f"{base}/{queued[0]}", headers=admin)).json()
        assert shown["message"]["content"] == "first lost words" and shown["subject"].startswith("chat.say.")
        assert (await http.get(f"{base}/nope", headers=admin)).status_code == 404
        # Replay while NATS is down: refused, entry kept with the attempt counted.
        r = await http.post(f"{base}/{queued[0]}/replay", headers=admin)
        assert r.status_code == 502, r.text
        assert (await http.get(f"{base}/{queued[0]}", headers=admin)).json()["replay_attempts"] == 1
        assert (await http.delete(f"{base}/{queued[0]}", headers=admin)).status_code == 204
        assert (await http.delete(f"{base}/{queued[0]}", headers=admin)).status_code == 404
        purge = await http.post(f"{base}/purge", params={"older_than": "1h"}, headers=admin)
        assert purge.json() == {"purged": 0, "pending": 2}
        assert (await http.post(f"{base}/purge", params={"older_than": "soon"}, headers=admin)).status_code == 422

        # The CLI reads the same directory; its replay connects to NATS_URL itself.
        listed = await asyncio.to_thread(_cli, server.config, tmp_path, "list")
        assert listed.returncode == 0 and "2 pending" in listed.stdout, listed
        assert queued[1] in listed.stdout and queued[2] in listed.stdout
        shown_cli = await asyncio.to_thread(_cli, server.config, tmp_path, "show", queued[1])
        assert shown_cli.returncode == 0 and "second lost words" in shown_cli.stdout, shown_cli
        refused = await asyncio.to_thread(_cli, server.config, tmp_path, "replay", "--all")
        assert refused.returncode != 0 and "cannot reach NATS" in refused.stderr, refused

        killable_nats.start()

        async def up() -> bool:
            return (await _health(http, server))[1]["nats"] == "ok"

        assert await _until(up, RECOVERY_LIMIT_S) is not None
        # One through the API, the rest through the CLI; the player then hears both, once.
        r = await http.post(f"{base}/{queued[1]}/replay", headers=admin)
        assert r.status_code == 200 and r.json()["pending"] == 1, r.text
        replayed = await asyncio.to_thread(_cli, server.config, tmp_path, "replay", "--all")
        assert replayed.returncode == 0 and "replayed 1, 0 pending" in replayed.stdout, replayed
        await a.collect({queued[1], queued[2]}, timeout=10)
        assert a.seen[queued[1]] == 1 and a.seen[queued[2]] == 1 and queued[0] not in a.seen
        purged = await asyncio.to_thread(_cli, server.config, tmp_path, "purge", "--older-than", "7d")
        assert purged.returncode == 0 and "purged 0" in purged.stdout, purged
        empty = await asyncio.to_thread(_cli, server.config, tmp_path, "list")
        assert "0 pending" in empty.stdout
        metrics = (await http.get("/api/metrics", headers=admin)).json()["nats"]
        assert metrics["dlq_depth"] == 0 and metrics["messages_dlq"]["say"] == 3
