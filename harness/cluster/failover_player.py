"""A scenario player that knows every game server: when its own cannot take it, it plays on another.

Behind a load balancer a player whose server went away reconnects to whichever server answers;
the harness has no load balancer, so the player holds the list itself: its home server first,
then the others in order. Every attempt is recorded like any connect (``info`` when refused), and
the ``server`` of the successful one says where its session now lives, so the checkers pair its
receptions with the right server. It keeps its session id: the session registry moves the
session to the new server (ADR-006).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.client import ScenarioPlayer

__all__ = ["FailoverPlayer"]


@dataclass
class FailoverPlayer(ScenarioPlayer):
    servers: tuple[tuple[str, str], ...] = ()
    """(name, base URL) of every game server, the player's home first."""

    async def connect(self) -> bool:
        """Connect to the first server, in order, that takes the session; False when none does."""
        for name, url in self.servers or ((self.server, self.base_url),):
            self.server, self.base_url = name, url
            if await super().connect():
                return True
        return False
