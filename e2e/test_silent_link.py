"""Scenario: a server with a long heartbeat, then a link that goes silent (issue 14, item 1).

A server whose HEARTBEAT_INTERVAL (12 s) is longer than the client's own default watchdog
(two 5 s intervals) leaves each link silent for longer than that watchdog between heartbeats. A
client that did not take the server's interval dropped such a link every 10 s, and, counting it
stable after 5 s, reset its attempts each time: a reconnect loop with no end. This client
sizes its watchdog from the interval the server advertises, so the link stays up. Then the
link is blackholed (open, carrying nothing): the client notices within two intervals and,
since no new link gets through, spends its attempt budget and stops in ``failed``.

Both phases are loop checks in ``infinite_reconnect_loops``: no stream request at all while
the long-heartbeat link is healthy, at most ``maxAttempts + 1`` while it is silent, and none
once the client has given up.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page

from e2e.steps import TopologyFactory, enter_game
from e2e.ui import Player, RequestCounter, new_player_name
from harness.e2e import E2EFigures, attempts_seen
from harness.faults.blackhole import Blackhole, BlackholeParams

HEARTBEAT_S = 12.0
"""Above the client's default watchdog (2 x 5 s): the interval that made the old client loop."""
CLIENT_DEFAULT_TIMEOUT_S = 10.0
STEADY_S = 2.5 * CLIENT_DEFAULT_TIMEOUT_S
"""Long enough for the old client to have dropped the link twice."""
MAX_ATTEMPTS = 3
ATTEMPT_TIMEOUT_MS = 2_000
DETECTION_SLACK_MS = 1_500
"""Timer and polling slack on top of two heartbeat intervals."""
QUIET_S = 8.0
"""After failed: this long with no further attempt."""


@pytest.mark.slow
def test_long_heartbeat_link_stays_up_then_silence_ends_bounded(make_topology: TopologyFactory, tab: Page,
                                                                figures: E2EFigures) -> None:
    topology = make_topology(HEARTBEAT_INTERVAL=str(HEARTBEAT_S))
    interval_ms = int(HEARTBEAT_S * 1000)
    player = Player(tab, topology.client_url(0), new_player_name())
    counter = RequestCounter(tab)
    # No heartbeatIntervalMs here: the interval must come from the server.
    enter_game(player, topology, figures, query=f"maxAttempts={MAX_ATTEMPTS}&attemptTimeoutMs={ATTEMPT_TIMEOUT_MS}")
    config = player.debug()["config"]

    # Phase 1: the long-heartbeat link is healthy, only quiet between heartbeats.
    counter.arm()
    steady_from = player.page_now_ms()
    tab.bring_to_front()
    time.sleep(STEADY_S)  # the span watched, not a wait for a condition
    steady = player.debug()
    steady_log = [r for r in steady["log"] if r["t"] >= steady_from]
    steady_requests = list(counter.urls)
    figures.loop_check("silent_link_long_heartbeat", attempts_seen(steady_requests, steady_log),
                       int(steady["maxAttempts"]), allowed=0)

    # Phase 2: the link goes silent (open, nothing through) and no new link gets through either.
    blackhole = Blackhole(BlackholeParams("client-0", stream="both"))
    counter.arm()
    added = time.time() * 1000
    try:
        blackhole.start(topology)
        dropped = player.wait_log("reconnecting", added, timeout_ms=2 * interval_ms + 10_000)
        detect_ms = dropped.t - added
        player.wait_state("failed", timeout_ms=MAX_ATTEMPTS * (ATTEMPT_TIMEOUT_MS + 2_000) + 10_000)
        failed = player.debug()
        gave_up_after = counter.count
        time.sleep(QUIET_S)  # the span watched after giving up
        quiet = player.debug()
    finally:
        blackhole.heal(topology)
        # Recorded before anything judges it: a loop shows as a failing KPI, not a missing one.
        figures.loop_check("silent_link_blackhole", attempts_seen(counter.urls, _log_since(player, added)),
                           MAX_ATTEMPTS)
    print(f"heartbeat {interval_ms} ms advertised, client watchdog {config['heartbeatTimeoutMs']} ms; "
          f"{len(steady_requests)} stream requests in {STEADY_S:.0f} s of a healthy quiet link; silence "
          f"detected after {detect_ms:.0f} ms ({dropped.event}); failed after {failed['attempts']} attempts, "
          f"{gave_up_after} stream requests, {counter.count - gave_up_after} more in {QUIET_S:.0f} s")

    assert config["heartbeatIntervalMs"] == interval_ms
    assert config["heartbeatTimeoutMs"] == 2 * interval_ms
    assert steady_requests == [] and steady["state"] == "fully_connected", steady_log
    assert detect_ms <= 2 * interval_ms + DETECTION_SLACK_MS
    assert "HEARTBEAT_TIMEOUT" in dropped.event
    assert failed["attempts"] == MAX_ATTEMPTS
    assert gave_up_after <= MAX_ATTEMPTS + 1
    assert quiet["state"] == "failed" and counter.count == gave_up_after
    assert sum(c.excess for c in figures.loop_checks if c.scenario.startswith("silent_link")) == 0


def _log_since(player: Player, since_ms: float) -> list[dict[str, object]]:
    """The client's transitions since ``since_ms``, or none when the page cannot answer."""
    try:
        return [r for r in player.debug()["log"] if r["t"] >= since_ms]
    except Exception:  # the page is gone: what the browser sent was still counted
        return []
