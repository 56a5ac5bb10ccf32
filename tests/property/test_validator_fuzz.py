"""Property: the validator never crashes, and finds every dangerous pattern wherever it is embedded.

Each example checks a batch of commands: payloads generated per pattern (case, spacing and
variant drawn at random) embedded between arbitrary Unicode text, plus arbitrary lines. With
HYPOTHESIS_PROFILE=full (5,000 examples) that is over 20,000 dangerous commands. Writes the
`validator_bypasses` KPI: dangerous commands that were accepted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from harness.kpi import kpi_from_catalogue, write_suite
from mythos.commands.validator import CommandValidator
from tests.property.budget import examples

BATCH = 6


def _cased(word: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda flips: "".join(c.upper() if f else c for c, f in zip(word, flips, strict=True))
    )


_ws = st.text(alphabet=" \t", max_size=3)
_ws1 = st.text(alphabet=" \t", min_size=1, max_size=3)


def _seq(*parts: st.SearchStrategy[str] | str) -> st.SearchStrategy[str]:
    return st.tuples(*(st.just(p) if isinstance(p, str) else p for p in parts)).map("".join)


def _one_of_words(*words: str) -> st.SearchStrategy[str]:
    return st.sampled_from(words).flatmap(_cased)


PAYLOADS: dict[str, st.SearchStrategy[str]] = {
    "HTML script or markup injection": _seq(
        "<",
        _ws,
        st.sampled_from(["", "/"]),
        _ws,
        _one_of_words("script", "iframe", "svg", "img", "object", "embed", "style", "meta", "body", "form"),
    ),
    "script URL": _seq(_one_of_words("javascript", "vbscript", "livescript"), _ws, ":"),
    "data URL": _seq(
        _cased("data"),
        _ws,
        ":",
        _ws,
        _one_of_words("text/html", "image/svg+xml"),
        _ws,
        st.sampled_from([";", ","]),
    ),
    "HTML event handler": _seq(
        _cased("on"),
        _one_of_words("load", "error", "click", "mouseover", "focus", "keydown", "submit", "pointerdown"),
        _ws,
        "=",
    ),
    "template injection": st.sampled_from(["${", "{{", "{%", "<%"]),
    "Python special name": _seq("__", st.text(alphabet="abcxyz019_", max_size=8), "__"),
    "code execution call": _seq(
        _one_of_words(
            "eval", "exec", "compile", "popen", "system", "getattr", "globals", "os.system", "subprocess.run"
        ),
        "(",
    ),
    "shell command substitution": st.sampled_from(["$(", "`"]),
    "shell command chaining": st.one_of(
        st.sampled_from(["&&", "||"]),
        # a word boundary ends the interpreter's name: "|shiny" is a sentence, "| sh -c" is not
        _seq("|", _ws, _one_of_words("sh", "bash", "curl", "nc", "python"), st.sampled_from([" ", "\t", " -c", "/"])),
        _seq(
            st.sampled_from([";", "&", "|"]),
            _ws,
            _one_of_words("rm", "cat", "curl", "reboot", "chmod", "dd", "wget"),
            st.sampled_from([" -rf /", " /etc/passwd", " ~/.ssh", "\t-c x", " *"]),
        ),
    ),
    "shell redirection to a device or system file": _seq(
        st.sampled_from([">", ">>", "<", "2>", ">&"]),
        _ws,
        _one_of_words("/dev/sda", "/dev/null", "/etc/passwd", "/proc/self/mem", "/sys/kernel", "/boot/x"),
    ),
    "SQL injection": st.one_of(
        _seq(_cased("union"), _ws1, st.sampled_from(["", "all "]).flatmap(_cased), _cased("select")),
        _seq(_one_of_words("drop", "truncate", "alter"), _ws1, _one_of_words("table", "database")),
        _seq(
            st.sampled_from(["'", '"']),
            _ws,
            _one_of_words("or", "and"),
            _ws1,
            st.sampled_from(["1", "'a'"]),
            _ws,
            "=",
            _ws,
            st.sampled_from(["1", "'a"]),
        ),
    ),
    "path traversal": st.sampled_from(["../", "..\\", "/..", "\\.."]),
    "URL-encoded control or traversal": _seq("%", _one_of_words("00", "0a", "0d", "1b", "2e", "2f", "5c", "3c", "27")),
    "terminal escape sequence": _seq("\\", _one_of_words("x1b", "u001b", "033", "e[")),
}
_surrounding = st.text(max_size=80)
dangerous = st.sampled_from(sorted(PAYLOADS)).flatmap(
    lambda reason: st.tuples(st.just(reason), _surrounding, PAYLOADS[reason], _surrounding)
)


@dataclass
class Tally:
    dangerous: int = 0
    arbitrary: int = 0
    bypasses: int = 0
    per_pattern: Counter[str] = field(default_factory=Counter)
    examples: Counter[str] = field(default_factory=Counter)  # per test: hypothesis examples run


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    started = datetime.now(UTC)
    counts = Tally()
    yield counts
    covered = len(counts.per_pattern)
    commands = counts.dangerous + counts.arbitrary
    runs = ", ".join(f"{n:,} of {name}" for name, n in sorted(counts.examples.items()))
    evidence = (
        f"tests/property/test_validator_fuzz.py: {sum(counts.examples.values()):,} examples run ({runs}); "
        f"{commands:,} generated commands, "
        f"{counts.dangerous} with a dangerous payload embedded in arbitrary text ({covered} of "
        f"{len(PAYLOADS) + len(FAMILIES)} families, fewest {min(counts.per_pattern.values(), default=0)} each); "
        f"{counts.bypasses} accepted"
    )
    value = float(counts.bypasses) if counts.dangerous else None
    write_suite(
        "property",
        [kpi_from_catalogue("validator_bypasses", value, evidence, sample=commands)],
        started=started,
        finished=datetime.now(UTC),
        merge=True,
    )


# -- invisible and direction-changing characters, look-alike verbs, and everyday text -------------

hidden_chars = st.one_of(st.characters(categories=["Cf", "Cs", "Co", "Zl", "Zp"]), st.just("\u034f"))
# Text without any hidden or control character, so the hidden one is the first the validator meets.
visible_text = st.text(
    alphabet=st.characters(exclude_categories=["Cf", "Cs", "Co", "Zl", "Zp", "Cc"], exclude_characters="\u034f"),
    max_size=60,
)

# Look-alikes per Latin letter, written here independently of the validator's table.
LOOK_ALIKES: dict[str, str] = {
    "a": "\u0430\u03b1\u0410",
    "b": "\u0432\u0412",
    "c": "\u0441\u0421",
    "d": "\u0501",
    "e": "\u0435\u0415\u03b5",
    "g": "\u0261",
    "h": "\u043d\u041d",
    "i": "\u0456\u03b9\u0131",
    "j": "\u0458",
    "k": "\u043a\u041a\u03ba",
    "l": "\u04cf",
    "m": "\u043c\u041c",
    "n": "\u043f\u03b7",
    "o": "\u043e\u041e\u03bf",
    "p": "\u0440\u0420\u03c1",
    "r": "\u0433",
    "s": "\u0455\u0405",
    "t": "\u0442\u0422\u03c4",
    "u": "\u03c5\u03bc",
    "v": "\u03bd",
    "w": "\u051d\u03c9",
    "x": "\u0445\u0425\u03c7",
    "y": "\u0443\u0423\u03b3",
}


def _disguised(verb: str) -> st.SearchStrategy[str]:
    """``verb`` with some letters swapped for look-alikes or fullwidth forms (at least one)."""

    def letter(c: str) -> st.SearchStrategy[str]:
        options = [c, c.upper(), chr(ord(c) + 0xFEE0), *LOOK_ALIKES.get(c, "")]
        return st.sampled_from(options)

    return st.tuples(*(letter(c) for c in verb)).map("".join).filter(lambda w: not w.isascii())


look_alike_verbs = st.sampled_from(sorted(CommandValidator.SYSTEM_COMMANDS)).flatmap(
    lambda verb: st.tuples(st.just(verb), _disguised(verb))
)

# Everyday chat that sits near shell or URL syntax; none of it may be refused.
EVERYDAY = (
    "look |shiny",
    "data: text/plain, hi",
    "emote waves; cat purrs",
    "3 > 2 and 1 < 2",
    "rm is a word",
    "the cat sat",
    "a | b",
    "I paid $5",
    "meet at 10:30",
    "see you; later",
    "it's 50% off",
    "x > y",
    "the dev team",
    "what/where",
    "hi & bye",
    "ls -la is a command",
    "caf\u00e9 \u2615",
    "\u041f\u0440\u0438\u0432\u0435\u0442",
)
everyday_lines = st.lists(st.sampled_from(EVERYDAY), min_size=1, max_size=4).map(" ".join)


@given(
    hidden=st.lists(st.tuples(visible_text, hidden_chars, visible_text), min_size=BATCH, max_size=BATCH),
    verbs=st.lists(look_alike_verbs, min_size=2, max_size=2),
    everyday=everyday_lines,
)
@settings(max_examples=examples("validator"))
def test_hidden_characters_and_look_alike_verbs(
    hidden: list[tuple[str, str, str]], verbs: list[tuple[str, str]], everyday: str, tally: Tally
) -> None:
    tally.examples["test_hidden_characters_and_look_alike_verbs"] += 1
    for prefix, char, suffix in hidden:
        command = f"say {prefix}{char}{suffix}"
        tally.dangerous += 1
        tally.per_pattern["invisible or direction-changing character"] += 1
        ok, reason = CommandValidator.validate_command_content(command, max_length=10_000)
        if ok:
            tally.bypasses += 1
            note(f"bypass: U+{ord(char):04X} in {command!r}")
        assert not ok
        assert reason is not None and reason.startswith(f"invisible or direction-changing character U+{ord(char):04X} ")
        assert char not in reason
    for verb, disguised in verbs:
        command = f"{disguised} someone"
        tally.dangerous += 1
        tally.per_pattern["look-alike admin verb"] += 1
        sensitive = CommandValidator.is_security_sensitive(command)
        if not sensitive:
            tally.bypasses += 1
            note(f"bypass: look-alike {disguised!r} of {verb!r}")
        assert sensitive and CommandValidator.command_verb(command) == verb
    assert CommandValidator.validate_command_content(f"say {everyday}") == (True, None), everyday


FAMILIES = ("invisible or direction-changing character", "look-alike admin verb")


def test_every_pattern_has_a_generator() -> None:
    assert set(PAYLOADS) == {p.reason for p in CommandValidator.DANGEROUS_PATTERNS}


@given(
    cases=st.lists(dangerous, min_size=BATCH, max_size=BATCH),
    lines=st.lists(st.text(max_size=300), min_size=2, max_size=2),
)
@settings(max_examples=examples("validator"))
def test_dangerous_payloads_are_found_wherever_embedded(
    cases: list[tuple[str, str, str, str]], lines: list[str], tally: Tally
) -> None:
    tally.examples["test_dangerous_payloads_are_found_wherever_embedded"] += 1
    for line in lines:  # arbitrary input: a well-formed answer, never an exception
        ok, reason = CommandValidator.validate_command_content(line)
        assert isinstance(ok, bool) and (ok is (reason is None))
        CommandValidator.is_security_sensitive(line)
        tally.arbitrary += 1
    for expected, prefix, payload, suffix in cases:
        command = f"say {prefix}{payload}{suffix}"
        tally.dangerous += 1
        tally.per_pattern[expected] += 1
        ok, reason = CommandValidator.validate_command_content(command)
        found = CommandValidator.dangerous_reason(command)
        if ok or found is None:
            tally.bypasses += 1
            note(f"bypass: {expected} in {command!r}")
        assert not ok
        assert found is not None, f"{expected} payload {payload!r} not found"
        assert payload not in (reason or ""), "the refusal never echoes the payload"
