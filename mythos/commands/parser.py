"""Turn a raw command line into a verb and arguments."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DIRECTION_ALIASES", "ParsedCommand", "normalize_direction", "parse_command"]

DIRECTION_ALIASES: dict[str, str] = {
    "n": "north",
    "s": "south",
    "e": "east",
    "w": "west",
    "u": "up",
    "d": "down",
    "north": "north",
    "south": "south",
    "east": "east",
    "west": "west",
    "up": "up",
    "down": "down",
}


@dataclass(frozen=True)
class ParsedCommand:
    """`verb` is lower-cased; `rest` keeps the caller's spacing and case (it may be chat text)."""

    raw: str
    verb: str
    args: tuple[str, ...]
    rest: str


def normalize_direction(word: str) -> str | None:
    return DIRECTION_ALIASES.get(word.lower())


def parse_command(raw: str) -> ParsedCommand:
    """Split off the verb; `'hello` and `:waves` are the classic MUD shorthands for say and emote."""
    text = raw.strip()
    if text.startswith("'"):
        text = "say " + text[1:]
    elif text.startswith(":"):
        text = "emote " + text[1:]
    head, _, rest = text.partition(" ")
    rest = rest.strip()
    verb = head.lower()
    if verb in DIRECTION_ALIASES:
        # A bare direction is movement.
        return ParsedCommand(raw, "go", (DIRECTION_ALIASES[verb],), DIRECTION_ALIASES[verb])
    return ParsedCommand(raw, verb, tuple(rest.split()), rest)
