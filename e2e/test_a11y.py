"""axe-core over the sign-in page and the game page in each indicator look (issue 14 item 7).

One player walks through every view a player meets: the sign-in page in both modes, then the game
green (connected, with room, chat and error lines in the scrollback), amber (NATS cut off from the
server), yellow (the player's own link cut, reconnecting) and red (retrying has stopped). Each view
is checked by the client's pinned axe-core and recorded before anything is judged; the KPI
``a11y_violations`` counts serious and critical violations over all of them.

The page's context bypasses the Content-Security-Policy only so that the axe script tag can be
added (e2e/test_csp.py checks the page under the policy).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext

from e2e.steps import enter_game
from e2e.ui import Player, new_player_name, run_axe
from harness.a11y import REQUIRED_VIEWS, A11yCheck, from_axe
from harness.e2e import E2EFigures
from harness.faults.partition import Partition, PartitionParams
from harness.topology import Topology

QUERY = "healthIntervalMs=1000&maxAttempts=6&backoffBaseMs=1000&backoffCapMs=2000"
"""Health polled every second (amber soon after the NATS cut); six attempts with waits of up to 1-2 s
(full jitter): yellow for seconds, long enough to check, and red within about 11 s of the link cut."""


def look(player: Player) -> str:
    return str(player.indicator.get_attribute("data-look"))


def wait_look(player: Player, wanted: str, timeout_ms: float = 15_000) -> None:
    player.page.wait_for_function(
        "(look) => document.querySelector('[data-connection-state]')?.getAttribute('data-look') === look",
        arg=wanted, timeout=timeout_ms, polling=50)


@pytest.mark.slow
def test_no_serious_or_critical_violations_in_any_view(topology: Topology, new_context: Callable[..., BrowserContext],
                                                       figures: E2EFigures) -> None:
    page = new_context(bypass_csp=True).new_page()
    player = Player(page, topology.client_url(0), new_player_name())
    checks: list[A11yCheck] = []

    def check(view: str, expected_look: str | None = None) -> None:
        before = look(player) if expected_look else None
        result = from_axe(view, run_axe(page))
        if expected_look is not None:
            # The view checked is the view named: the look held for the whole run.
            assert before == expected_look and look(player) == expected_look, (view, before, look(player))
        checks.append(result)
        figures.a11y_check(result)
        print(result.describe())

    player.open(QUERY)
    page.get_by_role("button", name="Enter", exact=True).wait_for()
    check("login")
    page.get_by_role("button", name="New here? Register with an invite code").click()
    page.get_by_label("Invite code").wait_for()
    check("register")
    page.get_by_role("button", name="Have an account? Sign in").click()

    enter_game(player, topology, figures, query=QUERY)
    player.round_trip()
    player.command("xyzzy")  # an unknown command: an error line in the scrollback too
    page.wait_for_selector(".scrollback .line[data-kind=error]")
    wait_look(player, "green")
    check("game/connected", "green")

    nats_cut = Partition(PartitionParams("nats-0"))
    try:
        nats_cut.start(topology)
        wait_look(player, "amber")
        check("game/degraded", "amber")
    finally:
        nats_cut.heal(topology)
    wait_look(player, "green")

    link_cut = Partition(PartitionParams("client-0"))
    try:
        link_cut.start(topology)
        wait_look(player, "yellow")
        check("game/reconnecting", "yellow")
        player.wait_state("failed", timeout_ms=30_000)
        check("game/failed", "red")
    finally:
        link_cut.heal(topology)
    page.get_by_role("button", name="Reconnect").click()
    player.wait_state("fully_connected")

    serious = {c.view: [v.rule for v in c.gated] for c in checks if c.gated}
    print(f"{checks[0].engine}: {sum(len(c.violations) for c in checks)} violations of any "
          f"impact over {len(checks)} views; serious or critical: {serious or 'none'}")
    assert [c.view for c in checks] == list(REQUIRED_VIEWS)
    assert serious == {}
