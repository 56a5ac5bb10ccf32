"""The page works under its own Content-Security-Policy in Chromium (issue 14 item 6).

A player signs in, plays (a command over the WebSocket, chat back over the event stream and the
socket) and nothing is refused: no ``securitypolicyviolation`` event and no console message
about the policy ("Refused to ..."). The same listeners then watch an inline script being
refused, so their silence above means something.
"""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import BrowserContext, ConsoleMessage, Page

from e2e.steps import enter_game
from e2e.ui import Player, new_player_name
from harness.e2e import E2EFigures
from harness.topology import Topology
from mythos.api.security_headers import CONTENT_SECURITY_POLICY

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push({ directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample });
});
"""
"""An init script: the DevTools protocol injects it before the page's own, outside the policy."""


class ConsoleRefusals:
    """Console messages in which the browser says it refused something under the policy
    (Chromium words them "Refused to load ..." or "Executing inline script violates ...")."""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        page.on("console", self._on_console)

    def _on_console(self, message: ConsoleMessage) -> None:
        text = message.text
        if "Refused to" in text or "Content Security Policy" in text:
            self.messages.append(text)


def violations(page: Page) -> list[dict[str, str]]:
    found: list[dict[str, str]] = page.evaluate("() => window.__cspViolations ?? null")
    assert found is not None, "the violation recorder did not run"
    return found


def test_the_game_plays_under_its_csp(topology: Topology, new_context: Callable[..., BrowserContext],
                                      figures: E2EFigures) -> None:
    context = new_context()
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    refusals = ConsoleRefusals(page)
    player = Player(page, topology.client_url(0), new_player_name())

    response = page.goto(topology.client_url(0) + "/")
    assert response is not None
    assert response.headers.get("content-security-policy") == CONTENT_SECURITY_POLICY
    enter_game(player, topology, figures)
    player.command("look")
    player.round_trip()
    player.wait_state("fully_connected")
    print(f"played under CSP: {len(violations(page))} violations, {len(refusals.messages)} console refusals")
    assert violations(page) == []
    assert refusals.messages == []

    # The negative control: an inline script is refused, and both listeners say so.
    ran = page.evaluate("""() => {
        const s = document.createElement('script');
        s.textContent = 'window.__inlineRan = true;';
        document.body.appendChild(s);
        return window.__inlineRan === true;
    }""")
    page.wait_for_function("() => (window.__cspViolations ?? []).length > 0", timeout=5_000)
    print(f"inline script: ran={ran}, violations {violations(page)}, console {refusals.messages}")
    assert ran is False
    assert [v["directive"] for v in violations(page)] == ["script-src-elem"]
    assert any("Content Security Policy" in m for m in refusals.messages)
