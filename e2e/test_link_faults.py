"""Scenarios 3 and 4: the browser-to-server link is cut, then blackholed, through Toxiproxy."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page

from e2e.steps import REPEATS, SPEC_RECOVERY_S, TopologyFactory, enter_game, wait_connections, wait_recovered
from e2e.ui import Player, new_player_name
from harness.e2e import E2EFigures
from harness.faults.blackhole import Blackhole, BlackholeParams
from harness.faults.partition import Partition, PartitionParams
from harness.topology import Topology

CUT_FOR_S = 10.0
HEARTBEAT_S = 1.0
"""Blackhole run: server HEARTBEAT_INTERVAL and the client's heartbeatIntervalMs, kept equal."""
DETECTION_SLACK_MS = 300
"""Timer and polling slack on top of two heartbeat intervals."""


@pytest.mark.slow
@pytest.mark.parametrize("run", range(REPEATS))
def test_link_cut_10s_recovers_same_session(run: int, topology: Topology, tab: Page,
                                            figures: E2EFigures) -> None:
    server = topology.mythos[0]
    player = Player(tab, topology.client_url(0), new_player_name())
    enter_game(player, topology, figures)
    session_id = player.debug()["session_id"]
    cut = Partition(PartitionParams("client-0"))

    cut_at = time.time() * 1000
    try:
        cut.start(topology)
        player.wait_left("fully_connected")
        # The fault's length, not a measurement.
        time.sleep(max(0.0, cut_at / 1000 + CUT_FOR_S - time.time()))
    finally:
        restored = time.time() * 1000  # before the heal: the recovery can only be overstated
        cut.heal(topology)

    recovery_s = wait_recovered(player, figures, restored)
    figures.recovery("link_cut", recovery_s)
    path = [r.to for r in player.transitions() if r.t >= cut_at]
    attempts = max(r.attempts for r in player.transitions() if r.t >= cut_at)
    print(f"run {run}: link restored -> fully_connected {recovery_s:.3f} s; attempts {attempts}")

    assert recovery_s < SPEC_RECOVERY_S
    assert path[0] == "reconnecting" and path[-1] == "fully_connected" and "failed" not in path
    assert attempts >= 2  # it kept trying through the cut
    debug = player.debug()
    assert debug["session_id"] == session_id
    assert debug["lastRecoveryMs"] >= CUT_FOR_S * 1000 - 500
    assert wait_connections(server, 2) == 2  # the server dropped the dead links and holds the new two
    player.round_trip()


@pytest.mark.slow
def test_blackhole_detected_within_two_heartbeats(make_topology: TopologyFactory, tab: Page,
                                                  figures: E2EFigures) -> None:
    topology = make_topology(HEARTBEAT_INTERVAL=str(HEARTBEAT_S))
    interval_ms = int(HEARTBEAT_S * 1000)
    player = Player(tab, topology.client_url(0), new_player_name())
    enter_game(player, topology, figures, query=f"heartbeatIntervalMs={interval_ms}&attemptTimeoutMs=2000")
    assert player.debug()["config"]["heartbeatTimeoutMs"] == 2 * interval_ms
    session_id = player.debug()["session_id"]
    blackhole = Blackhole(BlackholeParams("client-0", stream="both"))

    added = time.time() * 1000
    try:
        blackhole.start(topology)
        dropped = player.wait_log("reconnecting", added, timeout_ms=4 * interval_ms + 2000)
        detect_ms = dropped.t - added
        reason = player.debug()["last_error"]
        # One attempt through the still-blackholed link hangs, then times out before the heal.
        player.wait_state("connecting_sse", timeout_ms=5_000)
        figures.screenshot("connection_recovery_s", player.shoot_indicator("indicator-connecting"))
        player.wait_log("reconnecting", dropped.t + 1, timeout_ms=10_000)
    finally:
        removed = time.time() * 1000
        blackhole.heal(topology)

    recovery_s = wait_recovered(player, figures, removed)
    print(f"blackhole detected after {detect_ms:.0f} ms (heartbeat {interval_ms} ms, event "
          f"{dropped.event}); toxic removed -> fully_connected {recovery_s:.3f} s")

    assert detect_ms <= 2 * interval_ms + DETECTION_SLACK_MS
    assert "HEARTBEAT_TIMEOUT" in dropped.event
    assert reason is not None and "silent" in reason
    assert recovery_s < SPEC_RECOVERY_S
    assert player.debug()["session_id"] == session_id
    player.round_trip()
