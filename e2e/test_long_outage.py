"""Scenario 6: the server stays down past the whole retry budget.

The page's clock is Playwright's fake clock (``page.clock``): the backoff waits are skipped
with ``run_for`` while every connection attempt still goes over the real network, so the
default budget (128 attempts, over twenty minutes of real waiting) is exhausted in seconds. The
clock is paused only during the outage; login and the Reconnect run in flowing time.
Waits on the paused page are Python-side polls (``poll``): Playwright's own polling is
driven by the page's timers, which the fake clock holds.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from playwright.sync_api import Page

from e2e.steps import enter_game, poll, restart_timed, wait_connections
from e2e.ui import Player, RequestCounter, new_player_name
from harness.e2e import LONG_OUTAGE, E2EFigures, attempts_seen
from harness.topology import Topology

ATTEMPT_TIMEOUT_S = 10.0
"""Real time one attempt may take to fail over loopback (it takes milliseconds)."""
QUIET_FAKE_MS = 10 * 60 * 1000
"""After failed, ten minutes of page time must bring no further attempt."""


def _after_attempt(player: Player, attempts: int) -> dict[str, Any] | None:
    debug = player.debug()
    return debug if debug["state"] == "failed" or debug["attempts"] > attempts else None


def _client_log(player: Player) -> list[dict[str, Any]]:
    """The client's transition log, or none when the page cannot answer (the request count stands)."""
    try:
        return list(player.debug()["log"])
    except Exception:  # the page is gone: what the browser sent was still counted
        return []


def test_long_outage_fails_bounded_then_reconnect_button_restores(
        topology: Topology, tab: Page, figures: E2EFigures) -> None:
    server = topology.mythos[0]
    tab.clock.install()
    player = Player(tab, topology.client_url(0), new_player_name())
    enter_game(player, topology, figures)
    debug = player.debug()
    session_id, max_attempts = debug["session_id"], int(debug["maxAttempts"])
    cap_ms = int(debug["config"]["backoffCapMs"])
    counter = RequestCounter(tab)

    counter.arm()
    server.kill()
    player.wait_left("fully_connected")
    tab.clock.pause_at(player.page_now_ms() + 1)
    started = time.monotonic()
    try:
        # Each turn skips one backoff wait; the attempt it releases fails over the real network.
        for _ in range(max_attempts * 2):
            debug = player.debug()
            if debug["state"] == "failed":
                break
            attempts = int(debug["attempts"])
            # Skip the wait the machine drew, no more: a longer jump would also run out the
            # attempt's own deadline before the real network's refusal arrives.
            due = debug.get("nextRetryAt")
            wait_ms = int(due - player.page_now_ms()) + 1 if due is not None else cap_ms + 1
            tab.clock.run_for(max(1, min(wait_ms, cap_ms + 1)))
            poll(partial(_after_attempt, player, attempts), timeout=ATTEMPT_TIMEOUT_S,
                 what=f"attempt {attempts + 1} to fail")
        failed = player.debug()
        gave_up_after = counter.count
        # Ten more minutes of page time: a machine that loops would try again; this one stays put.
        tab.clock.run_for(QUIET_FAKE_MS)
        quiet = player.debug()
    finally:
        # The figure is whatever was counted, recorded before anything judges it: a loop shows up
        # as a failing infinite_reconnect_loops, not as a missing one.
        figures.loop_check(LONG_OUTAGE, attempts_seen(counter.urls, _client_log(player)), max_attempts)
    took = time.monotonic() - started
    print(f"failed after {failed['attempts']} attempts (max {max_attempts}), "
          f"{gave_up_after} stream requests, {took:.1f} s real time; last_error {failed['last_error']!r}")

    assert failed["state"] == "failed"
    assert failed["attempts"] == max_attempts
    assert max_attempts <= gave_up_after <= max_attempts + 1  # every attempt seen, none beyond
    assert quiet["state"] == "failed"
    assert counter.count == gave_up_after
    assert player.indicator.get_attribute("data-look") == "red"
    title = player.indicator.locator(".indicator__title").inner_text()
    assert title == f"Disconnected after {max_attempts} attempts"
    assert failed["last_error"] == "Cannot reach the server"
    assert player.indicator.locator(".indicator__detail").inner_text() == failed["last_error"]
    figures.screenshot("infinite_reconnect_loops", player.shoot_indicator("indicator-failed"))
    figures.screenshot("infinite_reconnect_loops", player.shoot_page("failed-message"))
    before = counter.count

    restart_timed(server)
    tab.clock.resume()
    player.indicator.get_by_role("button", name="Reconnect").click()
    try:
        player.wait_state("fully_connected")
    except Exception:
        figures.connection(False)
        raise
    figures.connection(True)
    after = player.debug()
    assert after["session_id"] == session_id
    assert after["attempts"] == 0
    assert counter.count == before + 1  # the button made exactly one new attempt
    assert wait_connections(server, 2) == 2
    player.round_trip()
