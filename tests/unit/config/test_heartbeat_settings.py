"""HEARTBEAT_INTERVAL against the WebSocket ping budget: a pairing that would make every web client
loop (pinged off with 1008, reconnected, pinged off again) is refused at start-up."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mythos.config import load_config
from mythos.config.models import CLIENT_MIN_PING_INTERVAL_S


@pytest.mark.parametrize(
    ("heartbeat", "pings_per_second"),
    [("5", "1"), ("0.3", "1"), ("300", "0.01"), ("2", "0.5"), ("0.5", "1")],
)
def test_pairings_a_client_can_keep_are_accepted(heartbeat: str, pings_per_second: str,
                                                 valid_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTBEAT_INTERVAL", heartbeat)
    monkeypatch.setenv("WS_PINGS_PER_SECOND", pings_per_second)
    server = load_config().server
    # The web client pings once per heartbeat, but never more often than its floor.
    client_pings_per_second = 1 / max(server.heartbeat_interval, CLIENT_MIN_PING_INTERVAL_S)
    assert client_pings_per_second <= server.ws_pings_per_second


@pytest.mark.parametrize(
    ("heartbeat", "pings_per_second"),
    [("5", "0.1"), ("0.3", "0.5"), ("300", "0.001"), ("1", "0.9")],
)
def test_pairings_that_would_loop_are_refused_naming_both_variables(heartbeat: str, pings_per_second: str,
                                                                    valid_env: dict[str, str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTBEAT_INTERVAL", heartbeat)
    monkeypatch.setenv("WS_PINGS_PER_SECOND", pings_per_second)
    with pytest.raises(ValidationError) as info:
        load_config()
    errors = info.value.errors()
    assert [e["type"] for e in errors] == ["heartbeat_outpaces_ping_budget"]
    message = errors[0]["msg"]
    assert "HEARTBEAT_INTERVAL" in message and "WS_PINGS_PER_SECOND" in message
    assert heartbeat in message and pings_per_second in message


def test_the_interval_stays_within_what_the_client_accepts(valid_env: dict[str, str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The client clamps an advertised interval to 1-300 s; the server may not ask for more."""
    monkeypatch.setenv("HEARTBEAT_INTERVAL", "300.5")
    with pytest.raises(ValidationError) as info:
        load_config()
    assert "HEARTBEAT_INTERVAL" in str(info.value)
