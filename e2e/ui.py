"""Driving the real client the way a player does, and reading what the page says about its link.

Every figure comes from the page: the indicator's ``data-connection-state`` and the transition
log the client publishes on ``window.__mythosConnection`` (docs/connection-debugging.md).
Waits are conditions with timeouts, never sleeps.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, Request

__all__ = ["AXE_SCRIPT", "INDICATOR", "POLL_MS", "SCREENSHOTS", "Player", "RequestCounter", "new_player_name",
           "run_axe"]

INDICATOR = "[data-connection-state]"
SCREENSHOTS = Path("reports/e2e")
DEFAULT_TIMEOUT_MS = 15_000
POLL_MS = 50
"""Interval polling, not requestAnimationFrame: a background tab gets no animation frames."""
AXE_SCRIPT = Path(__file__).resolve().parents[1] / "client" / "node_modules" / "axe-core" / "axe.min.js"
"""axe-core, the client's pinned devDependency (``npm ci`` in client/ installs it)."""
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def new_player_name(prefix: str = "p") -> str:
    """3..20 characters, a letter first (the server's rule)."""
    return f"{prefix}{secrets.token_hex(5)}"


@dataclass(frozen=True, slots=True)
class Transition:
    t: float
    to: str
    event: str
    attempts: int
    last_error: str | None = None
    """The machine's last_error when it made this transition (the snapshot's own may be cleared since)."""


class Player:
    """One browser tab playing one account."""

    def __init__(self, page: Page, base_url: str, username: str, password: str | None = None) -> None:
        self.page = page
        self.base_url = base_url
        self.username = username
        self.password = password or secrets.token_urlsafe(12)

    # -- screens
    def open(self, query: str = "") -> None:
        self.page.goto(f"{self.base_url}/{'?' + query if query else ''}")

    def register(self, invite_code: str) -> None:
        """Register through the sign-in screen; the client signs in straight after."""
        self.page.get_by_role("button", name="New here? Register with an invite code").click()
        self._fill_credentials()
        self.page.get_by_label("Invite code").fill(invite_code)
        self.page.get_by_role("button", name="Register and enter").click()

    def login(self) -> None:
        self._fill_credentials()
        self.page.get_by_role("button", name="Enter", exact=True).click()

    def _fill_credentials(self) -> None:
        self.page.get_by_label("Username").fill(self.username)
        self.page.get_by_label("Password").fill(self.password)

    # -- the link
    @property
    def indicator(self) -> Locator:
        return self.page.locator(INDICATOR)

    def state(self) -> str:
        return str(self.indicator.get_attribute("data-connection-state"))

    def debug(self) -> dict[str, Any]:
        """``window.__mythosConnection``: state, attempts, session_id, last_error, reason, log."""
        snapshot: dict[str, Any] | None = self.page.evaluate("() => window.__mythosConnection ?? null")
        if snapshot is None:
            raise AssertionError("the page publishes no window.__mythosConnection")
        return snapshot

    def transitions(self) -> list[Transition]:
        return [Transition(float(r["t"]), str(r["to"]), str(r["event"]), int(r["attempts"]), r.get("last_error"))
                for r in self.debug()["log"]]

    def wait_state(self, *states: str, timeout_ms: float = DEFAULT_TIMEOUT_MS) -> str:
        """Wait until the indicator shows one of ``states``; returns the one it shows."""
        self.page.wait_for_function(
            "(states) => states.includes(document.querySelector('[data-connection-state]')"
            "?.getAttribute('data-connection-state'))",
            arg=list(states), timeout=timeout_ms, polling=POLL_MS)
        return self.state()

    def wait_left(self, state: str, timeout_ms: float = DEFAULT_TIMEOUT_MS) -> str:
        """Wait until the indicator shows anything but ``state``."""
        self.page.wait_for_function(
            "(s) => { const v = document.querySelector('[data-connection-state]')"
            "?.getAttribute('data-connection-state'); return v !== undefined && v !== null && v !== s; }",
            arg=state, timeout=timeout_ms, polling=POLL_MS)
        return self.state()

    def wait_log(self, to: str, after_t: float, timeout_ms: float = DEFAULT_TIMEOUT_MS) -> Transition:
        """The first logged transition into ``to`` at or after page time ``after_t`` (epoch ms)."""
        self.page.wait_for_function(
            "([to, after]) => (window.__mythosConnection?.log ?? []).some((r) => r.to === to && r.t >= after)",
            arg=[to, after_t], timeout=timeout_ms, polling=POLL_MS)
        return next(r for r in self.transitions() if r.to == to and r.t >= after_t)

    def page_now_ms(self) -> float:
        return float(self.page.evaluate("() => Date.now()"))

    # -- playing
    def command(self, text: str) -> None:
        box = self.page.get_by_label("Command")
        box.fill(text)
        box.press("Enter")

    def lines(self, kind: str | None = None) -> list[str]:
        selector = f".scrollback .line[data-kind={kind}]" if kind else ".scrollback .line"
        return [str(t) for t in self.page.locator(selector).all_inner_texts()]

    def wait_line(self, text: str, timeout_ms: float = DEFAULT_TIMEOUT_MS) -> None:
        """Wait for a scrollback line that contains ``text``."""
        self.page.wait_for_function(
            "(text) => [...document.querySelectorAll('.scrollback .line')].some((l) => l.textContent.includes(text))",
            arg=text, timeout=timeout_ms, polling=POLL_MS)

    def round_trip(self, marker: str | None = None) -> str:
        """Say a unique line and wait until it comes back: the command and chat paths both work."""
        word = marker or f"echo-{secrets.token_hex(4)}"
        self.command(f"say {word}")
        self.wait_line(f"{self.username}: {word}")
        return word

    # -- evidence
    def shoot_indicator(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.indicator.screenshot(path=str(path), animations="disabled")
        return path

    def shoot_page(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), animations="disabled")
        return path


class RequestCounter:
    """Counts the page's EventSource requests: one per connection attempt of the machine.

    The client's status probe (a fetch to ``/api/events/probe`` after a failed open) has resource
    type ``fetch`` and is not counted, so one attempt is one request.
    """

    def __init__(self, page: Page) -> None:
        self.urls: list[str] = []
        self.armed = False
        page.on("request", self._on_request)

    def _on_request(self, request: Request) -> None:
        if self.armed and request.resource_type == "eventsource" and "/api/events" in request.url:
            self.urls.append(request.url)

    def arm(self) -> None:
        """Start counting from now (for example from the moment the server was killed)."""
        self.urls.clear()
        self.armed = True

    @property
    def count(self) -> int:
        return len(self.urls)


def run_axe(page: Page) -> dict[str, Any]:
    """Run axe-core over the page as it is now; its results object (``violations`` among them).

    The script is added as a tag, which a strict Content-Security-Policy refuses: the page's
    context must be opened with ``bypass_csp=True`` (e2e/test_csp.py checks the policy itself).
    """
    if not AXE_SCRIPT.is_file():
        raise AssertionError(f"{AXE_SCRIPT} is missing: run npm ci in client/")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_SCRIPT))
    results: dict[str, Any] = page.evaluate(
        "(tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] })",
        AXE_TAGS)
    return results
