"""Every server of a comma-separated NATS_URL reaches nats-py, in order when NATS_DONT_RANDOMIZE is set.

nats-py takes a list of servers; handed the whole comma-separated string as one URL it would
parse it as a single (broken) address and a cluster's other nodes would never be tried. The
connect functions are fakes that record their arguments: what is asserted is what we pass.
The real order-keeping is shown against two real nats-servers in
tests/integration/realtime/test_nats_cluster_link.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import nats
import pytest

from mythos.config import AppConfig, NATSConfig
from mythos.realtime import dlq_replay
from mythos.realtime.dead_letter_queue import DeadLetterQueue
from mythos.realtime.nats_link import LinkSettings, NATSLink
from mythos.realtime.nats_service import NATSService
from mythos.realtime.reliable_chat import ReliableChatParts

CLUSTER_URL = "nats://127.0.0.1:4001,nats://127.0.0.1:4002, nats://127.0.0.1:4003"
SERVERS = ["nats://127.0.0.1:4001", "nats://127.0.0.1:4002", "nats://127.0.0.1:4003"]


class Refused(Exception):
    """The fake connect's way of ending the attempt once it has recorded its arguments."""


def cluster_config(**overrides: Any) -> NATSConfig:
    return NATSConfig(url=CLUSTER_URL, **overrides)


def test_link_settings_carry_every_server_and_the_order_flag() -> None:
    settings = LinkSettings.from_config(cluster_config(dont_randomize=True))
    assert settings.servers == SERVERS
    assert settings.dont_randomize is True
    assert LinkSettings.from_config(cluster_config()).dont_randomize is False


async def test_the_link_dials_the_server_list_not_one_joined_string() -> None:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    async def connect(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        raise Refused

    settings = LinkSettings.from_config(cluster_config(dont_randomize=True))
    link = NATSLink(settings, connect=connect)
    await link.start()
    try:
        for _ in range(100):
            if calls:
                break
            await asyncio.sleep(0.01)
    finally:
        await link.stop()
    args, kwargs = calls[0]
    assert list(args[0]) == SERVERS
    assert kwargs["dont_randomize"] is True


def test_the_chat_stream_replicas_come_from_config() -> None:
    parts = ReliableChatParts.from_config(cluster_config(stream_replicas=3), name="mythos-test")
    assert parts.stream.replicas == 3
    assert ReliableChatParts.from_config(NATSConfig(), name="mythos-test").stream.replicas == 1


async def test_core_nats_connects_to_every_server(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    async def connect(**kwargs: Any) -> Any:
        calls.append(kwargs)
        raise Refused

    monkeypatch.setattr(nats, "connect", connect)
    config = cluster_config(use_jetstream=False, core_credibility_check=True, dont_randomize=True)
    service = NATSService(config)
    assert await service._connect_once() is False
    assert calls[0]["servers"] == SERVERS
    assert calls[0]["dont_randomize"] is True


async def test_dlq_replay_connects_to_every_server_and_keeps_the_replicas(
        monkeypatch: pytest.MonkeyPatch, config: AppConfig, tmp_path: Any) -> None:
    calls: list[dict[str, Any]] = []

    async def connect(**kwargs: Any) -> Any:
        calls.append(kwargs)
        raise ConnectionRefusedError("fake")

    monkeypatch.setattr(nats, "connect", connect)
    cluster = config.model_copy(update={"nats": cluster_config(dont_randomize=True, stream_replicas=3)})
    with pytest.raises(ConnectionRefusedError):
        await dlq_replay.replay_with_own_connection(cluster, DeadLetterQueue(tmp_path / "dlq"))
    assert calls[0]["servers"] == SERVERS
    assert calls[0]["dont_randomize"] is True
    assert dlq_replay.stream_spec(cluster).replicas == 3
