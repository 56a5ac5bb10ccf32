"""Scenario 2: mythos is SIGKILLed and restarted after 3 s; the client comes back by itself."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page

from e2e.steps import REPEATS, SPEC_RECOVERY_S, enter_game, restart_timed, wait_connections, wait_recovered
from e2e.ui import Player, new_player_name
from harness.e2e import E2EFigures
from harness.topology import Topology

DOWN_FOR_S = 3.0


@pytest.mark.parametrize("run", range(REPEATS))
def test_server_restart_recovers_same_session(run: int, topology: Topology, tab: Page,
                                              figures: E2EFigures) -> None:
    server = topology.mythos[0]
    player = Player(tab, topology.client_url(0), new_player_name())
    enter_game(player, topology, figures)
    session_id = player.debug()["session_id"]

    killed = time.time() * 1000
    server.kill()
    assert player.wait_left("fully_connected") in ("reconnecting", "connecting_sse", "failed")
    if run == 0:
        player.wait_state("reconnecting")
        figures.screenshot("connection_recovery_s", player.shoot_indicator("indicator-reconnecting"))
    # The fault's length, not a measurement: the server stays down for 3 s from the kill.
    time.sleep(max(0.0, killed / 1000 + DOWN_FOR_S - time.time()))
    back = restart_timed(server)

    recovery_s = wait_recovered(player, figures, back)
    figures.recovery("server_restart", recovery_s)

    debug = player.debug()
    path = [r.to for r in player.transitions() if r.t >= killed]
    print(f"run {run}: health answered -> fully_connected {recovery_s:.3f} s; attempts "
          f"{max(r.attempts for r in player.transitions() if r.t >= killed)}; path {path}")
    assert recovery_s < SPEC_RECOVERY_S
    assert path[0] == "reconnecting" and path[-1] == "fully_connected"
    assert "failed" not in path
    assert debug["session_id"] == session_id
    assert debug["lastRecoveryMs"] >= DOWN_FOR_S * 1000  # the outage the client saw includes the 3 s down
    assert wait_connections(server, 2) == 2  # the restarted server sees both links again
    player.round_trip()
