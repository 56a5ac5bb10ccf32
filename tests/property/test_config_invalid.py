"""Property: every generated invalid configuration is rejected, naming exactly the bad variables.

Writes the `invalid_config_rejected` KPI (>= 5,000 examples with HYPOTHESIS_PROFILE=full).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from pydantic import ValidationError

from harness.kpi import kpi_from_catalogue, write_suite
from mythos.config import load_config, reset_config

BASE = {
    "SERVER_PORT": "8123",
    "DATABASE_URL": "sqlite+aiosqlite:///data/mythos.db",
    "NPC_DATABASE_URL": "sqlite+aiosqlite:///data/npcs.db",
    "MYTHOSMUD_ADMIN_PASSWORD": "Elder-Sign-7f3",
    "MYTHOSMUD_JWT_SECRET": "q8Zr1mXo3VfL0kP9sTnW4yB7cD2eG5hJ6uA",
    "LOGGING_ENVIRONMENT": "unit_test",
}
REQUIRED = set(BASE)
MISSING = object()  # the variable is unset

_not_int = st.sampled_from(["", "abc", "1.5", "0x10", "1e3", " ", "ten", "--1"])
_port = st.one_of(st.integers(max_value=1023), st.integers(min_value=65536)).map(str) | _not_int
_bad_db = st.one_of(
    st.sampled_from(["mysql://h/db", "mongodb://h", "http://h/x.db", "sqlite://", "postgres", "", "redis://h:6379"]),
    st.text(alphabet="abcdefghij:/._", max_size=20).filter(lambda s: not s.startswith(("sqlite", "postgresql"))),
)
_short = st.text(alphabet="abcdefgh12345-_", min_size=0, max_size=11)
_placeholder = st.sampled_from(["changeme", "password", "secret", "CHANGEME", " admin "])
_monotone = st.sampled_from("axZ9-").flatmap(lambda c: st.integers(32, 80).map(lambda n: c * n))
_bool = st.sampled_from(["maybe", "2", "yes please", "", "tru"])
_positive_float = st.sampled_from(["0", "-1", "abc", "", "-0.5"])

INVALID: dict[str, st.SearchStrategy[str]] = {
    "SERVER_PORT": _port,
    "SERVER_HOST": st.sampled_from(["", "   ", "\t"]),
    "HEARTBEAT_INTERVAL": _positive_float | st.sampled_from(["301", "1e9"]),
    "EVENT_BUFFER_SIZE": st.integers(max_value=0).map(str) | _not_int,
    "DATABASE_URL": _bad_db,
    "NPC_DATABASE_URL": _bad_db,
    "NATS_ENABLED": _bool,
    "NATS_URL": st.sampled_from(["http://127.0.0.1:4222", "localhost:4222", "", "nats//x", "nats://a b"]),
    "NATS_MAX_PAYLOAD": st.integers(max_value=1023).map(str) | _not_int,
    "NATS_RECONNECT_WAIT": st.sampled_from(["-1", "abc", "", "301"]),
    "NATS_MAX_RECONNECT_ATTEMPTS": st.integers(max_value=-2).map(str) | _not_int,
    "NATS_CONNECT_TIMEOUT": _positive_float,
    "NATS_PING_INTERVAL": _positive_float,
    "NATS_MAX_OUTSTANDING_PINGS": st.integers(max_value=0).map(str) | _not_int,
    "MYTHOSMUD_ADMIN_PASSWORD": _short | _placeholder | _monotone,
    "MYTHOSMUD_JWT_SECRET": st.text(alphabet="abcdef123-", max_size=31) | _placeholder | _monotone,
    "ACCESS_TOKEN_TTL_MINUTES": st.integers(max_value=0).map(str) | _not_int,
    "RATE_LIMIT_MAX_COMMANDS": st.integers(max_value=0).map(str) | _not_int,
    "RATE_LIMIT_WINDOW_SECONDS": _positive_float,
    "MAX_ALIAS_DEPTH": st.integers(max_value=0).map(str) | _not_int,
    "LOGGING_ENVIRONMENT": st.sampled_from(["dev", "prod", "test", "", "LOCALHOST", "staging"]),
    "LOG_LEVEL": st.sampled_from(["LOUD", "", "trace", "verbose", "10"]),
    "LOG_FORMAT": st.sampled_from(["xml", "", "pretty", "JSONL"]),
}


@st.composite
def invalid_configs(draw: st.DrawFn) -> tuple[dict[str, str | object], set[str]]:
    """A valid base with 1..4 variables made invalid (or, for required ones, unset)."""
    names = draw(st.lists(st.sampled_from(sorted(INVALID)), min_size=1, max_size=4, unique=True))
    env: dict[str, str | object] = dict(BASE)
    for name in names:
        if name in REQUIRED and draw(st.booleans()):
            env[name] = MISSING
        else:
            env[name] = draw(INVALID[name])
    return env, set(names)


@dataclass
class Tally:
    generated: int = 0
    rejected_right: int = 0


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    started = datetime.now(UTC)
    counts = Tally()
    yield counts
    value = counts.rejected_right / counts.generated if counts.generated else None
    write_suite(
        "property",
        [
            kpi_from_catalogue(
                "invalid_config_rejected",
                value,
                f"tests/property/test_config_invalid.py: {counts.generated:,} examples run; "
                f"{counts.rejected_right:,} of {counts.generated:,} generated invalid configs rejected "
                "naming exactly the bad variables",
                sample=counts.generated,
            )
        ],
        started=started,
        finished=datetime.now(UTC),
        merge=True,
    )


@given(case=invalid_configs())
def test_every_invalid_config_is_rejected_naming_the_bad_fields(
    case: tuple[dict[str, str | object], set[str]], tally: Tally
) -> None:
    env, bad = case
    note(f"mutated {sorted(bad)}")
    tally.generated += 1
    with pytest.MonkeyPatch.context() as mp:
        for name in INVALID:
            mp.delenv(name, raising=False)
        mp.setenv("MYTHOS_ENV_FILE", "")
        for name, value in env.items():
            if value is MISSING:
                mp.delenv(name, raising=False)
            else:
                mp.setenv(name, str(value))
        reset_config()
        with pytest.raises(ValidationError) as info:
            load_config()
    named = {str(err["loc"][-1]) for err in info.value.errors()}
    assert named == bad
    tally.rejected_right += 1
