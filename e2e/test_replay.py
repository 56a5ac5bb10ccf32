"""Scenario 7: lines said while a player's link is cut reach them once each, in order.

Alice plays through the Toxiproxy link; Bob (a second browser context) talks to mythos
directly, so cutting Alice's link leaves Bob playing. After the cut Alice's client reconnects
with the last sequence number it saw and the server replays what she missed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext

from e2e.steps import enter_game
from e2e.ui import Player, new_player_name
from harness.e2e import E2EFigures
from harness.faults.partition import Partition, PartitionParams
from harness.topology import Topology

CUT_FOR_S = 5.0
LINES = 5


def _said(metrics: dict[str, object]) -> int:
    nats = metrics["nats"]
    assert isinstance(nats, dict)
    return int(nats.get("messages_processed", {}).get("say", 0))


@pytest.mark.slow
def test_lines_said_during_cut_shown_once_in_order(topology: Topology, new_context: Callable[..., BrowserContext],
                                                   figures: E2EFigures) -> None:
    server = topology.mythos[0]
    alice = Player(new_context().new_page(), topology.client_url(0), new_player_name("a"))
    bob = Player(new_context().new_page(), server.base_url, new_player_name("b"))
    enter_game(alice, topology, figures)
    enter_game(bob, topology, figures)
    hello = bob.round_trip()
    alice.wait_line(f"{bob.username}: {hello}")  # same start room: she hears him
    said_before = _said(server.metrics())
    run = time.strftime("%H%M%S")
    lines = [f"line-{run}-{i}" for i in range(LINES)]
    cut = Partition(PartitionParams("client-0"))

    cut_at = time.time() * 1000
    try:
        cut.start(topology)
        alice.wait_left("fully_connected")
        for text in lines:
            bob.round_trip(text)  # each line confirmed by the server before the next
        said_by = time.time() * 1000
        missed = [line for line in alice.lines("chat") if f"line-{run}-" in line]
        time.sleep(max(0.0, cut_at / 1000 + CUT_FOR_S - time.time()))  # the fault's length
    finally:
        restored = time.time() * 1000
        cut.heal(topology)

    try:
        alice.wait_state("fully_connected", timeout_ms=20_000)
    except Exception:
        figures.connection(False)
        raise
    figures.connection(True)
    alice.wait_line(f"{bob.username}: {lines[-1]}")
    shown = [line for line in alice.lines("chat") if f"line-{run}-" in line]
    print(f"cut {CUT_FOR_S} s; all {LINES} lines said {said_by - cut_at:.0f} ms into it; "
          f"Alice shows {len(shown)} after reconnecting "
          f"{alice.wait_log('fully_connected', restored).t - restored:.0f} ms after the heal")

    assert said_by < restored  # every line was said while Alice was cut off
    assert missed == []  # and none reached her before the link came back
    assert shown == [f"[say] {bob.username}: {text}" for text in lines]  # once each, in order
    assert _said(server.metrics()) - said_before >= LINES  # the server delivered them through NATS
    # Nothing else was lost or doubled around the cut: a fresh line still arrives once.
    after = bob.round_trip()
    alice.wait_line(f"{bob.username}: {after}")
    assert alice.lines("chat").count(f"[say] {bob.username}: {after}") == 1
