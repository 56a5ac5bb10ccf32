"""Scenario 8: signing in from a second tab evicts the first, which says so and stays down."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from e2e.steps import enter_game, wait_connections
from e2e.ui import POLL_MS, Player, RequestCounter, new_player_name
from harness.e2e import E2EFigures, attempts_seen
from harness.topology import Topology

WATCH_S = 3.0
"""How long the evicted tab is watched for a reconnect (three default backoff caps)."""


@pytest.mark.slow
def test_duplicate_login_evicts_first_tab_without_loop(topology: Topology,
                                                       new_context: Callable[..., BrowserContext],
                                                       figures: E2EFigures) -> None:
    server = topology.mythos[0]
    context = new_context()
    first = Player(context.new_page(), topology.client_url(0), new_player_name())
    enter_game(first, topology, figures)
    first_session = first.debug()["session_id"]
    first_requests = RequestCounter(first.page)
    # A second tab of the same browser: its own sessionStorage, so its own session_id.
    second = Player(context.new_page(), topology.client_url(0), first.username, first.password)

    first_requests.arm()
    second.open()
    signed_in = second.page_now_ms()
    second.login()
    try:
        second.wait_state("fully_connected")
    except Exception:
        figures.connection(False)
        raise
    figures.connection(True)
    first.wait_state("disconnected")
    evicted = first.wait_log("disconnected", signed_in)

    debug = first.debug()
    title = first.indicator.locator(".indicator__title").inner_text()
    detail = first.indicator.locator(".indicator__detail").inner_text()
    print(f"first tab evicted {evicted.t - signed_in:.0f} ms after the second login: "
          f"{title!r} / {detail!r} (event {evicted.event})")
    figures.screenshot("infinite_reconnect_loops", first.shoot_indicator("indicator-evicted"))

    # Watch the evicted tab, in front so its timers run at full pace: any attempt or change of
    # state ends the wait early.
    log_length = len(debug["log"])
    first.page.bring_to_front()
    try:
        first.page.wait_for_function(
            "(n) => (window.__mythosConnection?.log.length ?? 0) !== n", arg=log_length,
            timeout=WATCH_S * 1000, polling=POLL_MS)
        moved = True
    except PlaywrightTimeoutError:
        moved = False
    after = first.debug()
    # Recorded before anything judges it: attempts after an eviction are all beyond the budget (0).
    figures.loop_check("duplicate_login", attempts_seen(first_requests.urls, after["log"][log_length:]),
                       int(debug["maxAttempts"]), allowed=0)

    assert second.debug()["session_id"] != first_session
    assert debug["reason"] == "evicted"
    assert evicted.event == "EVICTED"
    assert first.indicator.get_attribute("data-look") == "red"
    assert title == "Playing in another window"
    assert detail  # the server's explanation is shown
    assert not moved, after["log"][log_length:]
    second.round_trip()
    assert first.state() == "disconnected"
    assert len(first.debug()["log"]) == log_length
    assert first_requests.count == 0
    assert wait_connections(server, 2) == 2  # only the second tab's two links remain
