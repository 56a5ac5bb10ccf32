"""The attack catalogue: each attack by name, with its bounded budget in the short and full profiles.

Attacks run one after another against one server, in this order, while the compliant players
play throughout. Every budget bounds both the wall time and the number of requests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from harness.abuse.context import AttackContext, AttackOutcome, Budget
from harness.abuse.logins import login_brute_force_admin, login_brute_force_player, login_flood
from harness.abuse.streams import slow_sse_readers
from harness.abuse.unicode_chat import unicode_chat
from harness.abuse.ws_floods import garbage_frames, invalid_command_flood, oversized_lines, ping_flood

__all__ = ["ATTACKS", "Attack", "attack_names"]

AttackFn = Callable[[AttackContext, Budget], Awaitable[AttackOutcome]]


@dataclass(frozen=True, slots=True)
class Attack:
    name: str
    description: str
    run: AttackFn
    short: Budget
    full: Budget

    def budget(self, full: bool) -> Budget:
        return self.full if full else self.short


_ATTACKS: tuple[Attack, ...] = (
    Attack("oversized_lines", "lines of 16,000 characters and 200,000-character frames over WebSocket",
           oversized_lines, Budget(2.0, 200), Budget(20.0, 3000)),
    Attack("invalid_command_flood", "unknown verbs, refused content and admin verbs, back to back",
           invalid_command_flood, Budget(2.0, 1000), Budget(20.0, 20_000)),
    Attack("ping_flood", "WebSocket pings back to back", ping_flood, Budget(1.5, 2000), Budget(15.0, 60_000)),
    Attack("garbage_frames", "frames that are not the protocol", garbage_frames,
           Budget(1.5, 1000), Budget(15.0, 20_000)),
    # Long enough to use up the free attempts of a throttle even on a busy machine; an address
    # stops as soon as a lock outlasts the window, so a defended server ends these early.
    Attack("login_brute_force_admin", "wrong passwords for admin from 127.0.0.2, then the admin from 127.0.0.1",
           login_brute_force_admin, Budget(8.0, 200), Budget(20.0, 2000)),
    Attack("login_brute_force_player", "wrong passwords for a player from two addresses, then the player",
           login_brute_force_player, Budget(8.0, 200), Budget(20.0, 2000)),
    Attack("login_flood", "Locust: wrong-password logins from 20 addresses while real players log in",
           login_flood, Budget(4.0, 2000), Budget(25.0, 20_000)),
    Attack("slow_sse_readers", "event streams that read nothing or a trickle while chat flows to them",
           slow_sse_readers, Budget(3.0, 16), Budget(25.0, 60)),
    Attack("unicode_chat", "bidi, format, tag, separator and surrogate characters in chat and names",
           unicode_chat, Budget(2.0, 19), Budget(10.0, 200)),
)

ATTACKS: Mapping[str, Attack] = {a.name: a for a in _ATTACKS}


def attack_names() -> list[str]:
    return list(ATTACKS)
