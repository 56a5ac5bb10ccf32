"""NATS cluster settings: the chat stream's replica count and the server list of NATS_URL."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mythos.config import NATSConfig, load_config


def test_a_single_node_is_the_default(valid_env: dict[str, str]) -> None:
    nats = load_config().nats
    assert nats.stream_replicas == 1
    assert nats.dont_randomize is False
    assert nats.servers == ["nats://localhost:4222"]


@pytest.mark.parametrize("replicas", ["1", "3", "5"])
def test_stream_replicas_within_one_to_five(monkeypatch: pytest.MonkeyPatch, replicas: str) -> None:
    monkeypatch.setenv("NATS_STREAM_REPLICAS", replicas)
    assert NATSConfig().stream_replicas == int(replicas)


@pytest.mark.parametrize("replicas", ["0", "6", "-1", "three"])
def test_stream_replicas_outside_one_to_five_are_refused(monkeypatch: pytest.MonkeyPatch, replicas: str) -> None:
    monkeypatch.setenv("NATS_STREAM_REPLICAS", replicas)
    with pytest.raises(ValidationError) as info:
        NATSConfig()
    assert [err["loc"][-1] for err in info.value.errors()] == ["NATS_STREAM_REPLICAS"]


def test_a_cluster_url_list_becomes_every_server_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:4001, nats://127.0.0.1:4002,nats://127.0.0.1:4003")
    monkeypatch.setenv("NATS_DONT_RANDOMIZE", "true")
    nats = NATSConfig()
    assert nats.servers == ["nats://127.0.0.1:4001", "nats://127.0.0.1:4002", "nats://127.0.0.1:4003"]
    assert nats.dont_randomize is True


def test_an_empty_entry_in_the_url_list_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:4001,,nats://127.0.0.1:4003")
    with pytest.raises(ValidationError):
        NATSConfig()
