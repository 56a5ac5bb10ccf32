"""What a server does when it cannot reach the session registry (docs/adr/ADR-006-cluster-sessions.md):

- a new session is refused: WebSocket close 1013 after an `unavailable` error frame carrying
  retry_after, SSE HTTP 503 with Retry-After; a refused login evicts nothing;
- a reconnect of the session the server holds (per the newest claim it saw) is admitted;
- once NATS is back, the server catches up from the watch and evicts a session it held if another
  server took the player meanwhile, and new sessions are admitted again.

Server A reaches nats-server through a forwarder the test cuts; server B reaches it directly.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from mythos.local_nats import LocalNatsServer
from mythos.realtime.websocket import CLOSE_EVICTED, CLOSE_TRY_AGAIN_LATER
from tests.factories import PASSWORD, unique_name
from tests.integration.cluster.conftest import ClusterServer, register, start_world_async, wait_until
from tests.integration.realtime.tcp_forwarder import TcpForwarder
from tests.integration.realtime_clients import ws_player

pytestmark = pytest.mark.integration

RETRY_AFTER_S = 2.0  # ClusterConfig's default
RECONNECT_BOUND_S = 10.0
"""nats-py's reconnects, then the link supervisor's backoff (at most 5 s), after the heal."""


@pytest.fixture
async def cut_world(
    tmp_path: Path, nats_server: LocalNatsServer
) -> AsyncIterator[tuple[list[ClusterServer], TcpForwarder]]:
    forwarder = TcpForwarder(nats_server.port)
    await forwarder.start()
    servers = await start_world_async(tmp_path, [forwarder.url, nats_server.url])
    try:
        yield servers, forwarder
    finally:
        for server in servers:
            server.stop()
        await forwarder.close()


async def test_a_server_without_the_registry_admits_only_the_session_it_holds(
    cut_world: tuple[list[ClusterServer], TcpForwarder],
) -> None:
    (a, b), forwarder = cut_world
    token = await register(a, unique_name("down"), PASSWORD)
    async with ws_player(a.ws_url, token, "held") as held:
        await held.until_event("room_state")
        await forwarder.partition()
        await wait_until(lambda: not a.registry_ready(), "A notices the registry is unreachable")

        # A new session is refused, over both transports, with a retry-after.
        async with connect(f"{a.ws_url}/api/ws?token={token}&session_id=new-ws", open_timeout=10) as ws:
            frame = json.loads(await ws.recv())
            await ws.wait_closed()
        assert frame["type"] == "error" and frame["error_type"] == "unavailable", frame
        assert frame["retry_after"] == RETRY_AFTER_S
        assert ws.close_code == CLOSE_TRY_AGAIN_LATER
        assert ws.close_reason.startswith("try again later")
        async with httpx.AsyncClient(timeout=10) as client:
            sse = await client.get(f"{a.http_url}/api/events", params={"token": token, "session_id": "new-sse"})
        assert sse.status_code == 503, sse.text
        assert sse.headers["Retry-After"] == str(int(RETRY_AFTER_S))
        assert "try again" in sse.json()["detail"]
        assert a.services.metrics.get_cluster_metrics()["registry_unavailable_refusals"] == 2

        # The refused logins evicted nothing, and the held session may reconnect.
        assert (await held.command("look")).get("event_type") == "command_result"
        async with ws_player(a.ws_url, token, "held") as again:
            reply = await again.command("look")
            assert reply.get("event_type") == "command_result", reply

        # B reaches NATS: the player logs in there. A cannot hear of it until its link returns,
        # so for the length of the outage both sockets are open (the rule's known cost).
        async with ws_player(b.ws_url, token, "on-b") as on_b:
            await on_b.until_event("room_state")
            healed_at = time.monotonic()
            await forwarder.heal()
            evicted = await held.until_event("session_evicted", timeout=RECONNECT_BOUND_S)
            caught_up = time.monotonic() - healed_at
            assert evicted["data"]["reason"] == "new_login"
            await held.conn.wait_closed()
            assert held.conn.close_code == CLOSE_EVICTED
            print(f"\nstale_session_evicted_after_heal_s={caught_up:.2f}")
            await wait_until(a.registry_ready, "A's registry back in sync", timeout=RECONNECT_BOUND_S)

            # New sessions on A are admitted again, and take the player from B.
            async with ws_player(a.ws_url, token, "after-heal") as after:
                await after.until_event("room_state")
                await on_b.until_event("session_evicted", timeout=3.0)
