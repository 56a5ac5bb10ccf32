"""Aliases coherent across servers: a definition or removal on A takes effect on B's next command.

B caches the player's aliases from its first command; without the invalidation B would keep that
copy until the player goes offline there (never, for a player who only sends HTTP commands to it).
Prints alias_propagation_ms p95 (run with -s).
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.factories import PASSWORD, unique_name
from tests.integration.cluster.conftest import ClusterServer, http_command, p95, register
from tests.integration.realtime_clients import WSPlayer, ws_player

pytestmark = pytest.mark.integration

SAMPLES = 30  # half definitions, half removals
PROBE_TIMEOUT_S = 3.0
PROPAGATION_SPEC_MS = 1000.0


async def _first_seen(player: WSPlayer, command: str, defined: bool) -> float:
    """Seconds until `command` on the player's socket runs as an alias (defined) or is unknown (removed)."""
    started = time.perf_counter()
    while True:
        reply = await player.command(command)
        data = reply.get("data", {})
        unknown = reply.get("error_type") == "unknown_command" or data.get("error_type") == "unknown_command"
        if (defined and data.get("ok") is True) or (not defined and unknown):
            return time.perf_counter() - started
        assert time.perf_counter() - started < PROBE_TIMEOUT_S, f"{command!r}: {reply}"


async def test_alias_changes_on_one_server_reach_the_next_command_on_another(
    world: list[ClusterServer],
) -> None:
    """The player plays on B (WebSocket); the alias is defined and removed through A (HTTP). The
    figure runs from A's reply to B's first reply that shows the change, so it includes one
    command's round trip on B."""
    a, b = world
    token = await register(a, unique_name("alias"), PASSWORD)
    samples_ms: list[float] = []
    async with httpx.AsyncClient(timeout=10) as client, ws_player(b.ws_url, token, "plays-on-b") as on_b:
        for i in range(SAMPLES // 2):
            name = f"zz{i}"
            # B has read the player's aliases (and cached them) before the change.
            listed = await on_b.command("aliases")
            assert name not in listed["data"]["text"]
            defined = await http_command(client, a, token, f"alias {name} look")
            assert defined.json()["data"]["ok"] is True, defined.text
            samples_ms.append(1000 * await _first_seen(on_b, name, defined=True))
            removed = await http_command(client, a, token, f"unalias {name}")
            assert "removed" in removed.json()["data"]["text"], removed.text
            samples_ms.append(1000 * await _first_seen(on_b, name, defined=False))
    figure = p95(samples_ms)
    print(f"\nalias_propagation_ms p95={figure:.1f} max={max(samples_ms):.1f} n={len(samples_ms)}")
    assert figure <= PROPAGATION_SPEC_MS, samples_ms
    assert b.services.metrics.get_cluster_metrics()["alias_invalidations_received"] >= SAMPLES
    assert a.services.metrics.get_cluster_metrics()["alias_invalidations_sent"] == SAMPLES
