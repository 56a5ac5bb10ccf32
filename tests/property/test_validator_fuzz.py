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
from hypothesis import given, note
from hypothesis import strategies as st

from harness.kpi import kpi_from_catalogue, write_suite
from mythos.commands.validator import CommandValidator

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
        st.sampled_from(["&&", "||"]), _seq("|", _ws, _one_of_words("sh", "bash", "curl", "nc", "python"))
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


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    started = datetime.now(UTC)
    counts = Tally()
    yield counts
    covered = len(counts.per_pattern)
    evidence = (
        f"tests/property/test_validator_fuzz.py: {counts.dangerous + counts.arbitrary} generated commands, "
        f"{counts.dangerous} with a dangerous payload embedded in arbitrary text ({covered} of "
        f"{len(PAYLOADS)} patterns, fewest {min(counts.per_pattern.values(), default=0)} each); "
        f"{counts.bypasses} accepted"
    )
    value = float(counts.bypasses) if counts.dangerous else None
    write_suite(
        "property",
        [kpi_from_catalogue("validator_bypasses", value, evidence)],
        started=started,
        finished=datetime.now(UTC),
        merge=True,
    )


def test_every_pattern_has_a_generator() -> None:
    assert set(PAYLOADS) == {p.reason for p in CommandValidator.DANGEROUS_PATTERNS}


@given(
    cases=st.lists(dangerous, min_size=BATCH, max_size=BATCH),
    lines=st.lists(st.text(max_size=300), min_size=2, max_size=2),
)
def test_dangerous_payloads_are_found_wherever_embedded(
    cases: list[tuple[str, str, str, str]], lines: list[str], tally: Tally
) -> None:
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
