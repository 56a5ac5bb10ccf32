"""Unicode families in chat and names: what reaches the other players' screens.

Eve says one line per family; the compliant players in the same room are the screens. The
count that matters (``spoofing_chars_delivered``) is taken by the runner from everything the
compliant players received during the whole run; this attack adds its own checks:

- every line with a hidden character is answered with a message naming it (``U+202E``), so the
  player is told which character was refused or removed;
- a mixed-script admin verb (``t\u0435leport`` with a Cyrillic e) is answered as the admin verb is;
- names with hidden characters cannot be registered;
- today's false positives (``say look |shiny``, ``say data: text/plain, hi``) are delivered.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from harness.abuse.clients import WsAttacker, frame_data, http_client, register, ws_url
from harness.abuse.context import AttackContext, AttackOutcome, Budget
from harness.abuse.measure import hidden_characters

__all__ = ["FALSE_POSITIVES", "FAMILIES", "unicode_chat"]

FAMILIES: dict[str, tuple[str, ...]] = {
    "rlo": ("hello \u202eevil\u202c world",),
    "isolates": ("a \u2066left\u2069 b", "c \u2067right\u2069 d", "e \u2068first\u2069 f"),
    "bidi_marks": ("x\u200fy", "x\u200ey", "\u202aembed\u202c", "\u202boverride\u202c"),
    "zero_width": ("ad\u200dmin is here", "zero\u200bwidth", "non\u200cjoiner", "word\u2060joiner"),
    "bom": ("\ufeffhello",),
    "tag_chars": ("flag\U000e0041\U000e0042\U000e007f",),
    "line_separators": ("line\u2028break", "para\u2029graph"),
    "lone_surrogates": ("a\ud800b", "c\udc00d"),
    "grapheme_joiner": ("<scr\u034fipt>alert(1)</scr\u034fipt>",),
}
"""Text after ``say ``. Lone surrogates travel as JSON ``\\ud800`` escapes (ensure_ascii)."""
FALSE_POSITIVES = ("look |shiny", "data: text/plain, hi")
MIXED_SCRIPT_VERB = "t\u0435leport arkham_square"
PLAIN_VERB = "teleport arkham_square"
HIDDEN_NAMES = ("ev\u202eil", "ze\u200bro", "bo\u2066b\u2069", "ta\U000e0041g")
PACE_S = 0.13
"""Every command is sent at least this long after the previous one: under the rate limit (10 a
second), so no line is refused for its pace."""
HEAR_S = 3.0


def _text(frame: dict[str, Any] | None) -> str:
    if frame is None:
        return ""
    data = frame_data(frame)
    return " ".join(str(x) for x in (frame.get("message"), data.get("text")) if x)


def _answer_kind(frame: dict[str, Any] | None) -> str:
    if frame is None:
        return "no answer"
    if frame.get("type") == "error":
        return f"error:{frame.get('error_type')}"
    data = frame_data(frame)
    return "ok" if data.get("ok", True) else f"fail:{data.get('error_type')}"


class _Paced:
    """One command at a time, each sent at least PACE_S after the one before."""

    def __init__(self, speaker: WsAttacker) -> None:
        self.speaker = speaker
        self.next_at = 0.0

    async def command(self, text: str) -> dict[str, Any] | None:
        await asyncio.sleep(max(0.0, self.next_at - time.monotonic()))
        self.next_at = time.monotonic() + PACE_S
        return await self.speaker.command(text)


async def unicode_chat(ctx: AttackContext, budget: Budget) -> AttackOutcome:
    """Every family once per round until the budget's time or count runs out (at least one round)."""
    speaker = WsAttacker(ws_url(ctx.base_url, ctx.eve.token, ctx.eve.session_id), keep_replies=True)
    await speaker.connect()
    paced = _Paced(speaker)
    outcome = AttackOutcome()
    answers: dict[str, str] = {}
    untold: list[str] = []
    sent = 0
    deadline = time.monotonic() + budget.seconds
    try:
        rounds = 0
        while rounds == 0 or (time.monotonic() < deadline and sent < budget.count):
            rounds += 1
            for family, lines in FAMILIES.items():
                for text in lines:
                    reply = await paced.command(f"say {text}")
                    sent += 1
                    answers[family] = _answer_kind(reply)
                    hidden = hidden_characters(text)[0]
                    if hidden not in _text(reply):
                        untold.append(f"{family}: {hidden} ({answers[family]})")
                    if reply is not None and reply.get("type") == "error":
                        outcome.refusals += 1
        verbs = [_answer_kind(await paced.command(c)) for c in (PLAIN_VERB, MIXED_SCRIPT_VERB)]
        outcome.refusals += sum(1 for v in verbs if v.startswith("error:"))
        marker = f"fp{secrets.token_hex(4)}"
        replies = []
        for text in FALSE_POSITIVES:
            replies.append(await paced.command(f"say {text} {marker}"))
        delivered = []
        for text, reply in zip(FALSE_POSITIVES, replies, strict=True):
            ok = _answer_kind(reply) == "ok" and await ctx.heard(f"{text} {marker}", HEAR_S)
            delivered.append(ok)
            if not ok:
                outcome.failures.append(f"unicode: the harmless line 'say {text}' was not delivered "
                                        f"({_answer_kind(reply)})")
    finally:
        await speaker.close()
    registered = await _register_hidden_names(ctx)
    outcome.figures = {"lines": sent, "answers": answers, "plain_verb": verbs[0], "mixed_script_verb": verbs[1],
                       "told_which": sent - len(untold), "false_positives_delivered": sum(delivered),
                       "hidden_names_registered": registered}
    if untold:
        outcome.failures.append(f"unicode: {len(untold)} of {sent} lines with hidden characters were not "
                                f"answered with the character's code point, e.g. {untold[0]}")
    if verbs[0] != verbs[1]:
        outcome.failures.append(f"unicode: '{MIXED_SCRIPT_VERB.encode('unicode_escape').decode()}' was "
                                f"answered {verbs[1]}, the admin verb it imitates {verbs[0]}")
    if registered:
        outcome.failures.append(f"unicode: {len(registered)} names with hidden characters were registered: "
                                f"{[n.encode('unicode_escape').decode() for n in registered]}")
    return outcome


async def _register_hidden_names(ctx: AttackContext) -> list[str]:
    """Try each hidden-character name; a name that registers also joins the room, so the
    compliant players' screens show it (and the spoofing count sees it)."""
    registered: list[str] = []
    async with http_client(ctx.base_url) as client:
        for name in HIDDEN_NAMES:
            password = secrets.token_urlsafe(12)
            response = await register(client, name, password, ctx.take_invite())
            if response.status_code != 201:
                continue
            registered.append(name)
            login = await client.post("/auth/login", json={"username": name, "password": password})
            if login.status_code == 200:
                joiner = WsAttacker(ws_url(ctx.base_url, str(login.json()["access_token"]), secrets.token_hex(8)))
                await joiner.connect()
                await joiner.drain(0.5)
                await joiner.close()
    return registered
