"""CommandValidator: each refusal class, the accepted everyday commands, and sensitivity."""

from __future__ import annotations

import pytest

from mythos.commands.admin import ADMIN_COMMANDS
from mythos.commands.validator import MAX_RAW_LENGTH, CommandValidator

validate = CommandValidator.validate_command_content

# One payload per dangerous pattern, keyed by the reason the player is told.
EXEMPLARS = {
    "HTML script or markup injection": "<script>alert(1)</script>",
    "script URL": "javascript:alert(1)",
    "data URL": "data:text/html;base64,PHNjcmlwdD4=",
    "HTML event handler": "onerror=alert(1)",
    "template injection": "{{7*7}}",
    "Python special name": "__class__",
    "code execution call": "eval(input)",
    "shell command substitution": "$(reboot)",
    "shell command chaining": "x && rm -rf /",
    "SQL injection": "' OR 1=1",
    "path traversal": "../../etc/passwd",
    "URL-encoded control or traversal": "%2e%2e%2f",
    "terminal escape sequence": "\\x1b[2J",
}


def test_every_pattern_has_an_exemplar() -> None:
    assert {p.reason for p in CommandValidator.DANGEROUS_PATTERNS} == set(EXEMPLARS)


@pytest.mark.parametrize("reason", sorted(EXEMPLARS))
def test_each_dangerous_pattern_is_refused_and_named_without_echo(reason: str) -> None:
    payload = EXEMPLARS[reason]
    ok, why = validate(f"say look {payload} here")
    assert not ok
    assert why == reason
    assert payload not in why


@pytest.mark.parametrize(
    "command",
    [
        "look",
        "go north",
        "say Hello, Armitage!",
        "emote shivers; quietly",
        "say café ☕ 100% sure",
        "whisper bob meet me at 10:30",
        "say I paid $5 for it",
        "alias hi say hello $1; wave",
        "say a\ttab",
    ],
)
def test_everyday_commands_pass(command: str) -> None:
    assert validate(command) == (True, None)


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("say a\x00b", "null byte"),
        ("say a\nforged line", "control character"),
        ("say \x1b[31m", "control character"),
        ("say \x7f", "control character"),
        ("say \x85", "control character"),
        ("", "empty command"),
        ("   ", "empty command"),
    ],
)
def test_control_characters_and_empty_lines(command: str, reason: str) -> None:
    assert validate(command) == (False, reason)


def test_length_limits() -> None:
    assert validate("x" * MAX_RAW_LENGTH)[0]
    ok, why = validate("x" * (MAX_RAW_LENGTH + 1))
    assert not ok and why is not None and str(MAX_RAW_LENGTH) in why
    assert validate("x" * 5000, max_length=10_000)[0]


@pytest.mark.parametrize(
    "disguised",
    [
        "\uff1cscript>",
        "<scr\u200bipt>",
        "<SCRIPT>",
        "< script",
        "java\u00adscript:",
        "\uff2a\uff21\uff36\uff21script:",
    ],
)
def test_disguised_patterns_are_still_found(disguised: str) -> None:
    ok, _ = validate(f"say {disguised}")
    assert not ok


def test_glued_to_words_is_still_found() -> None:
    assert not validate("sayxx__init__yy")[0]
    assert not validate("medieval(")[0]


@pytest.mark.parametrize(
    "command", ["teleport bob", "/Teleport bob", "GRANT admin bob", "  mute  x", "shutdown", "dlq replay 3"]
)
def test_security_sensitive(command: str) -> None:
    assert CommandValidator.is_security_sensitive(command)


@pytest.mark.parametrize("command", ["say teleport", "look", "", "teleporter", "go north"])
def test_not_security_sensitive(command: str) -> None:
    assert not CommandValidator.is_security_sensitive(command)


def test_every_admin_command_of_the_game_is_sensitive() -> None:
    assert set(ADMIN_COMMANDS) <= CommandValidator.SYSTEM_COMMANDS
