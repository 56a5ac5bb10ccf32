"""Aliases coherent across servers: a definition or removal on A takes effect on B's next command.

Commands run only on the server holding the player's session, so "the next command on B" comes
after the player's session moved to B. Each server caches the player's aliases; the invalidation
over NATS (and the reload when a session opens) keeps a copy from an earlier session from
answering. Prints alias_propagation_ms p95 (run with -s).
"""

from __future__ import annotations

import time

import pytest

from tests.factories import PASSWORD, unique_name
from tests.integration.cluster.conftest import ClusterServer, p95, register
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
    """The player changes an alias on the server holding the session, then plays on the other
    (its login there evicts the first session: commands run only where the session is held).
    Both servers have read the player's aliases before, so a stale copy would show. The figure
    runs from the change's reply to the first reply on the other server that shows it, so it
    includes opening a session there and one command's round trip."""
    a, b = world
    token = await register(a, unique_name("alias"), PASSWORD)
    samples_ms: list[float] = []
    servers = (a, b)
    for i in range(SAMPLES):
        name = f"zz{i // 2}"
        defining = i % 2 == 0  # define on one server, remove on the other, alternating sides
        here, there = servers[i % 2], servers[(i + 1) % 2]
        async with ws_player(here.ws_url, token, f"s{i}") as on_here:
            listed = await on_here.command("aliases")
            assert (name in listed["data"]["text"]) is not defining, listed
            reply = await on_here.command(f"alias {name} look" if defining else f"unalias {name}")
            assert reply["data"]["ok"] is True, reply
            changed = time.perf_counter()
        async with ws_player(there.ws_url, token, f"s{i}-next") as on_there:
            await _first_seen(on_there, name, defined=defining)
            samples_ms.append(1000 * (time.perf_counter() - changed))
    figure = p95(samples_ms)
    print(f"\nalias_propagation_ms p95={figure:.1f} max={max(samples_ms):.1f} n={len(samples_ms)}")
    assert figure <= PROPAGATION_SPEC_MS, samples_ms
    sent = sum(s.services.metrics.get_cluster_metrics()["alias_invalidations_sent"] for s in servers)
    assert sent == SAMPLES
