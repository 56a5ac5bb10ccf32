"""Floods over one WebSocket: oversized lines, invalid commands, pings, garbage frames.

Each sends back to back (bounded outstanding), reconnects a few times if the server closes it,
and stops at its budget. What the server answered is counted by kind; a close with a reason
code is recorded, since closing a connection that keeps sending garbage is the intended defence.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

from harness.abuse.clients import WsAttacker, ws_url
from harness.abuse.context import AttackContext, AttackOutcome, Budget

__all__ = ["garbage_frames", "invalid_command_flood", "oversized_lines", "ping_flood"]

MAX_RECONNECTS = 5
DRAIN_S = 2.0
LONG_LINE_CHARS = 15_900
"""Just under the server's frame limit: the line itself must reach the command pipeline."""
HUGE_FRAME_CHARS = 200_000
"""Well over any frame limit: what a server does with a frame it cannot take."""
NOT_A_REFUSAL = frozenset({"error:invalid_message"})
"""Answers to frames that were not commands: protocol errors, not audited refusals."""


def _refusals(attacker: WsAttacker) -> int:
    return sum(n for kind, n in attacker.answers.items() if kind.startswith("error:") and kind not in NOT_A_REFUSAL)


async def _flood(ctx: AttackContext, budget: Budget, frame: Callable[[int], str]) -> AttackOutcome:
    attacker = WsAttacker(ws_url(ctx.base_url, ctx.mallory.token, ctx.mallory.session_id))
    await attacker.connect()
    deadline = time.monotonic() + budget.seconds
    sent_bytes = 0
    try:
        for i in range(budget.count):
            if time.monotonic() >= deadline or not await attacker.ensure_open(MAX_RECONNECTS):
                break
            text = frame(i)
            if await attacker.send(text):
                sent_bytes += len(text)
        await attacker.drain(min(DRAIN_S, max(0.2, deadline - time.monotonic() + 0.5)))
    finally:
        await attacker.close()
    figures = {**attacker.figures(), "sent_bytes": sent_bytes}
    return AttackOutcome(figures=figures, refusals=_refusals(attacker))


def _command(text: str) -> str:
    return json.dumps({"type": "command", "data": {"command": text}})


async def oversized_lines(ctx: AttackContext, budget: Budget) -> AttackOutcome:
    """Lines of ~16,000 characters (every tenth a 200,000-character frame), as fast as answered."""

    def frame(i: int) -> str:
        if i % 10 == 9:
            return _command(f"say {i} " + "B" * HUGE_FRAME_CHARS)
        return _command(f"say {i} " + "A" * LONG_LINE_CHARS)

    return await _flood(ctx, budget, frame)


_INVALID = (
    "xyzzy{i}",
    "say <script>alert({i})</script>",
    "say hi; rm -rf /{i}",
    "go sideways{i}",
    "teleport admin arkham_square",
    "say {{{{7*7}}}} {i}",
    "shutdown now {i}",
    "alias {i}",
)


async def invalid_command_flood(ctx: AttackContext, budget: Budget) -> AttackOutcome:
    """Unknown verbs, refused content and admin verbs from a player, as fast as answered."""
    return await _flood(ctx, budget, lambda i: _command(_INVALID[i % len(_INVALID)].format(i=i)))


async def ping_flood(ctx: AttackContext, budget: Budget) -> AttackOutcome:
    """Pings back to back: free for the attacker, so they need a budget on the server."""
    return await _flood(ctx, budget, lambda _i: '{"type":"ping"}')


def _garbage(i: int) -> str:
    kind = i % 7
    if kind == 0:
        return os.urandom(48).hex()
    if kind == 1:
        return f"not json {i} " + "{" * 20
    if kind == 2:
        return "[1, 2, 3]"
    if kind == 3:
        return json.dumps({"type": f"bogus{i}"})
    if kind == 4:
        return '{"type": "command"}'
    if kind == 5:
        return json.dumps({"type": "command", "data": {"command": i}})
    return "x" * 20_000


async def garbage_frames(ctx: AttackContext, budget: Budget) -> AttackOutcome:
    """Frames that are not the protocol: random text, non-objects, unknown types, malformed commands."""
    return await _flood(ctx, budget, _garbage)
