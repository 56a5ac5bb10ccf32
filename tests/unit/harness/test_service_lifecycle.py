"""Every harness service is a context manager through one mixin: entry starts it, exit releases
it, and a start that fails half-way releases what it started before the error propagates."""

from __future__ import annotations

import pytest

from harness.services.containers import NatsContainer, ToxiproxyContainer
from harness.services.lifecycle import Managed
from harness.services.mythos import MythosServer
from harness.services.nats import NatsServer
from harness.services.nats_cluster import NatsCluster
from harness.services.postgres import PostgresServer
from harness.services.prometheus import PrometheusServer
from harness.services.toxiproxy import ToxiproxyServer
from harness.topology import Topology


class _Service(Managed):
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[str] = []

    def start(self) -> float:
        self.calls.append("start")
        if self.fail:
            raise TimeoutError("not healthy in time")
        return 0.1

    def stop(self) -> None:
        self.calls.append("stop")


class _OwnsFiles(_Service):
    def release(self) -> None:
        self.calls.append("close")


def test_with_starts_then_stops() -> None:
    service = _Service()
    with service as entered:
        assert entered is service and service.calls == ["start"]
    assert service.calls == ["start", "stop"]


def test_a_failed_start_releases_what_it_started_and_reraises() -> None:
    service = _Service(fail=True)
    with pytest.raises(TimeoutError), service:
        pytest.fail("the body must not run after a failed start")
    assert service.calls == ["start", "stop"]


def test_a_service_that_owns_files_releases_them_instead() -> None:
    service = _OwnsFiles(fail=True)
    with pytest.raises(TimeoutError), service:
        pass
    assert service.calls == ["start", "close"]


@pytest.mark.parametrize("cls", [MythosServer, NatsServer, NatsCluster, PostgresServer, PrometheusServer,
                                 ToxiproxyServer, NatsContainer, ToxiproxyContainer, Topology])
def test_every_service_uses_the_one_lifecycle(cls: type) -> None:
    assert issubclass(cls, Managed)
    assert "__enter__" not in vars(cls) and "__exit__" not in vars(cls)
