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
    "shell redirection to a device or system file": "> /dev/sda",
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


# -- issue 12, item 7: the spec's shell patterns, and today's false positives --------------------


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("say hi; rm -rf /", "shell command chaining"),
        ("say hi & reboot", "shell command chaining"),
        ("say hi | cat /etc/passwd", "shell command chaining"),
        ("say hi > /dev/sda", "shell redirection to a device or system file"),
        ("say hi >>/etc/passwd", "shell redirection to a device or system file"),
        ("say x < /dev/urandom", "shell redirection to a device or system file"),
        ("say `id`", "shell command substitution"),
    ],
)
def test_shell_chains_redirections_and_substitution_are_refused(command: str, reason: str) -> None:
    assert validate(command) == (False, reason)


@pytest.mark.parametrize(
    "command",
    [
        "say look |shiny",
        "say data: text/plain, hi",
        "emote waves; cat purrs",
        "say 3 > 2 and 1 < 2",
        "say rm is a word",
    ],
)
def test_everyday_text_near_shell_syntax_passes(command: str) -> None:
    assert validate(command) == (True, None)


@pytest.mark.parametrize("verb", ["spawn", "delete"])
def test_spawn_and_delete_are_sensitive(verb: str) -> None:
    assert verb in CommandValidator.SYSTEM_COMMANDS
    assert CommandValidator.is_security_sensitive(f"{verb} shoggoth")


# -- issue 12, item 8: invisible and direction-changing characters, look-alike verbs -------------


@pytest.mark.parametrize(
    ("char", "named"),
    [
        ("\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("\u2066", "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ("\u2069", "U+2069 POP DIRECTIONAL ISOLATE"),
        ("\u200d", "U+200D ZERO WIDTH JOINER"),
        ("\u200b", "U+200B ZERO WIDTH SPACE"),
        ("\ufeff", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("\U000e0041", "U+E0041 TAG LATIN CAPITAL LETTER A"),
        ("\u2028", "U+2028 LINE SEPARATOR"),
        ("\u2029", "U+2029 PARAGRAPH SEPARATOR"),
        ("\ud800", "U+D800 lone surrogate"),
        ("\ue000", "U+E000 private-use character"),
        ("\u034f", "U+034F COMBINING GRAPHEME JOINER"),
    ],
)
def test_invisible_and_direction_changing_characters_are_refused_and_named(char: str, named: str) -> None:
    ok, why = validate(f"say hello {char}world")
    assert not ok
    assert why == f"invisible or direction-changing character {named}"
    assert char not in why


def test_a_grapheme_joiner_cannot_hide_a_script_tag() -> None:
    ok, why = validate("say <scr\u034fipt>")
    assert not ok and why is not None and "U+034F" in why


@pytest.mark.parametrize(
    "command",
    [
        "t\u0435leport bob",
        "\u0422ELEPORT bob",
        "/g\u043eto bob",
        "gr\u0430nt admin me",
        "m\u03c5te bob",
        "sp\u0430wn x",
    ],
)
def test_look_alike_verbs_are_matched_as_the_verbs_they_mimic(command: str) -> None:
    assert CommandValidator.is_security_sensitive(command)


def test_look_alike_skeleton() -> None:
    assert CommandValidator.command_verb("t\u0435leport bob") == "teleport"
    assert CommandValidator.command_verb("\uff34eleport") == "teleport"  # fullwidth, by NFKC
    assert CommandValidator.command_verb("say hi") == "say"


@pytest.mark.parametrize(
    "command", ["say caf\u00e9 \u2615", "say \u041f\u0440\u0438\u0432\u0435\u0442", "say \u05e9\u05dc\u05d5\u05dd"]
)
def test_ordinary_non_latin_text_passes(command: str) -> None:
    assert validate(command) == (True, None)
