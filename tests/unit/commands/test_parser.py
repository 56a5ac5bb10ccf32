from __future__ import annotations

import pytest

from mythos.commands.parser import normalize_direction, parse_command


@pytest.mark.parametrize(
    ("raw", "verb", "args", "rest"),
    [
        ("look", "look", (), ""),
        ("  LOOK  ", "look", (), ""),
        ("say Hello  There", "say", ("Hello", "There"), "Hello  There"),
        ("'hi all", "say", ("hi", "all"), "hi all"),
        (":waves", "emote", ("waves",), "waves"),
        ("n", "go", ("north",), "north"),
        ("D", "go", ("down",), "down"),
        ("go west", "go", ("west",), "west"),
        ("", "", (), ""),
    ],
)
def test_parse(raw: str, verb: str, args: tuple[str, ...], rest: str) -> None:
    parsed = parse_command(raw)
    assert (parsed.verb, parsed.args, parsed.rest, parsed.raw) == (verb, args, rest, raw)


def test_normalize_direction() -> None:
    assert normalize_direction("U") == "up"
    assert normalize_direction("sideways") is None
