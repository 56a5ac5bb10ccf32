"""Server-side steps of the scenarios: timed restarts and waits on the server's own figures."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

from e2e.ui import Player
from harness.e2e import E2EFigures
from harness.services.mythos import MythosServer
from harness.services.process import wait_until
from harness.topology import Topology

__all__ = [
    "REPEATS",
    "SPEC_RECOVERY_S",
    "TopologyFactory",
    "enter_game",
    "poll",
    "restart_timed",
    "wait_connections",
    "wait_recovered",
]

T = TypeVar("T")
HEALTH_POLL_S = 0.02
START_TIMEOUT_S = 30.0
LOGIN_BUDGET_MS = 2_000
SPEC_RECOVERY_S = 5.0
FULL_RUN = os.environ.get("MYTHOS_FULL_RUN", "") not in ("", "0", "false")
REPEATS = int(os.environ.get("MYTHOS_E2E_REPEATS", "3" if FULL_RUN else "1"))
"""Runs of the server-restart and link-cut scenarios (their p95 is connection_recovery_s)."""

TopologyFactory = Callable[..., Topology]
"""``make_topology(HEARTBEAT_INTERVAL="1.0")``: the conftest fixture's type."""


def wait_recovered(player: Player, figures: E2EFigures, since_ms: float) -> float:
    """Wait for fully_connected (counting the connection's success or failure); seconds since `since_ms`."""
    try:
        player.wait_state("fully_connected", timeout_ms=SPEC_RECOVERY_S * 4000)
    except Exception:
        figures.connection(False)
        raise
    figures.connection(True)
    return (player.wait_log("fully_connected", since_ms).t - since_ms) / 1000


def restart_timed(server: MythosServer, timeout: float = START_TIMEOUT_S) -> float:
    """Start a killed server again; return the epoch ms at which it first answered health.

    The moment is when the first successful probe was *sent*, so the recovery measured from
    it can only be overstated (by one request's duration), never understated.
    """
    server.process.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sent = time.time() * 1000
        try:
            if server.health()["http_status"] == 200:
                return sent
        except Exception:  # not listening yet: the normal "not yet"
            if not server.process.running:
                raise RuntimeError(f"{server.name} exited on restart:\n{server.process.log_tail()}") from None
        time.sleep(HEALTH_POLL_S)
    raise TimeoutError(f"{server.name} did not answer health within {timeout} s")


def wait_connections(server: MythosServer, expected: int, timeout: float = 10.0) -> int:
    """Wait until the server's health counts ``expected`` open player connections."""
    wait_until(lambda: server.health()["connections"] == expected, timeout=timeout,
               what=f"{server.name} counting {expected} connections")
    return int(server.health()["connections"])


def poll(probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.02) -> T:
    """Call ``probe`` until it returns something other than None; for pages whose timers are faked."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(interval)


def enter_game(player: Player, topology: Topology, figures: E2EFigures, *, query: str = "",
               budget_ms: float = LOGIN_BUDGET_MS) -> float:
    """Open the page, register through the UI and wait for fully_connected.

    Returns the ms from pressing "Register and enter" to fully_connected, measured on the page's
    clock; counts the attempt in connection_success_rate whether or not it succeeds.
    """
    player.open(query)
    pressed = player.page_now_ms()
    player.register(topology.mythos[0].take_invite())
    try:
        player.wait_state("fully_connected", timeout_ms=max(budget_ms * 5, 10_000))
    except Exception:
        figures.connection(False)
        raise
    reached = player.wait_log("fully_connected", pressed).t
    figures.connection(True)
    return reached - pressed

