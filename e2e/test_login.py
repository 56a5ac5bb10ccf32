"""Scenario 1: a new player registers and signs in through the UI; the link comes up green."""

from __future__ import annotations

from playwright.sync_api import Page

from e2e.steps import LOGIN_BUDGET_MS, enter_game, wait_connections
from e2e.ui import Player, new_player_name
from harness.e2e import E2EFigures
from harness.topology import Topology


def test_login_reaches_fully_connected_within_2s(topology: Topology, tab: Page, figures: E2EFigures) -> None:
    player = Player(tab, topology.client_url(0), new_player_name())

    took_ms = enter_game(player, topology, figures)

    print(f"login -> fully_connected: {took_ms:.0f} ms (budget {LOGIN_BUDGET_MS} ms)")
    assert took_ms <= LOGIN_BUDGET_MS
    assert player.indicator.get_attribute("data-look") == "green"
    debug = player.debug()
    assert debug["state"] == "fully_connected"
    assert debug["attempts"] == 0
    assert debug["session_id"]
    path = [r.to for r in player.transitions()]
    assert path[-4:] == ["connecting_sse", "sse_connected", "connecting_ws", "fully_connected"]
    # The server sees this player's two links (event stream and WebSocket).
    assert wait_connections(topology.mythos[0], 2) == 2
    figures.screenshot("connection_success_rate", player.shoot_indicator("indicator-fully_connected"))

    word = player.round_trip()
    assert player.lines("chat").count(f"[say] {player.username}: {word}") == 1
