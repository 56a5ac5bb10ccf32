"""Fault vocabulary: the registry table, parameters as JSON, and the heal guarantee."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from typing import Any

import pytest

from harness.faults.base import applied
from harness.faults.registry import FAULTS, fault_from_json, fault_to_json, make_fault
from harness.services.toxiproxy import ToxiproxyError


class RecordingToxiproxy:
    """Stands in for the Toxiproxy API to record calls; integration tests use the real one."""

    def __init__(self, fail_add: bool = False) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.toxic_names: set[str] = set()
        self.enabled: dict[str, bool] = {}
        self.fail_add = fail_add
        self.lock = threading.Lock()

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        with self.lock:
            self.calls.append(("enabled", proxy, enabled))
            self.enabled[proxy] = enabled

    def add_toxic(self, proxy: str, name: str, toxic_type: str, attributes: dict[str, Any], *,
                  stream: str, toxicity: float) -> None:
        self.calls.append(("add", proxy, name, toxic_type, attributes, stream, toxicity))
        if self.fail_add and len(self.toxic_names) == 1:
            raise ToxiproxyError("second toxic refused")
        self.toxic_names.add(name)

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return [{"name": n} for n in sorted(self.toxic_names)]

    def remove_toxic(self, proxy: str, name: str) -> None:
        self.calls.append(("remove", proxy, name))
        self.toxic_names.discard(name)


class Service:
    def __init__(self) -> None:
        self.events: list[str] = []

    def kill(self) -> None:
        self.events.append("kill")

    def restart(self) -> float:
        self.events.append("restart")
        return 0.0

    def stop(self) -> None:
        self.events.append("stop")


class Target:
    def __init__(self, toxiproxy: RecordingToxiproxy | None = None) -> None:
        self.toxiproxy = toxiproxy or RecordingToxiproxy()
        self.services = {"nats": Service(), "mythos-0": Service(),
                         **{f"nats-{i}": Service() for i in range(3)}}

    def proxy_name(self, link: str) -> str:
        return f"proxy-{link}"

    def peer_links(self, node: str) -> list[str]:  # a three-node cluster (ClusterTarget)
        i = int(node.removeprefix("nats-"))
        return [f"route-{a}-{b}" for j in range(3) if j != i for a, b in ((i, j), (j, i))]

    def stream_leader(self, stream: str) -> str:
        return "nats-1"

    def service(self, name: str) -> Service:
        return self.services[name]


EXAMPLES: dict[str, dict[str, Any]] = {
    "partition": {"link": "nats-0"},
    "latency": {"link": "nats-0", "latency_ms": 500, "jitter_ms": 200},
    "bandwidth": {"link": "nats-0", "rate_kb_s": 1},
    "slow_close": {"link": "nats-0", "delay_ms": 100},
    "slicer": {"link": "nats-0"},
    "limit_data": {"link": "nats-0", "bytes": 100},
    "reset_peer": {"link": "nats-0", "timeout_ms": 0},
    "blackhole": {"link": "nats-0"},
    "kill_nats": {},
    "kill_mythos": {"service": "mythos-0"},
    "flapping": {"link": "nats-0", "period_s": 0.2, "down_s": 0.1},
    "partition_nats_node": {"node": "nats-1"},
    "kill_nats_leader": {"stream": "MYTHOS_CHAT"},
    "stop_nats_node": {"service": "nats-2"},
    "stop_service": {"service": "mythos-0"},
}


def test_the_registry_holds_the_whole_vocabulary() -> None:
    assert set(FAULTS) == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_params_round_trip_through_json(name: str) -> None:
    fault = make_fault(name, **EXAMPLES[name])
    data = json.loads(json.dumps(fault_to_json(fault)))
    again = fault_from_json(data)
    assert again.name == name == fault.name
    assert asdict(again.params) == asdict(fault.params)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_fault_heals_even_when_the_scenario_fails(name: str) -> None:
    target = Target()
    fault = make_fault(name, **EXAMPLES[name])
    with pytest.raises(RuntimeError, match="scenario failed"), applied(fault, target):
        raise RuntimeError("scenario failed")
    proxy = target.toxiproxy
    assert not proxy.toxic_names, "a toxic outlived its fault"
    assert all(proxy.enabled.values()), "a link was left down"
    for service in target.services.values():
        assert service.events in ([], ["kill", "restart"], ["stop", "restart"])


def test_blackhole_is_a_zero_timeout_toxic_on_both_directions() -> None:
    target = Target()
    make_fault("blackhole", link="nats-0").start(target)  # type: ignore[arg-type]
    adds = [c for c in target.toxiproxy.calls if c[0] == "add"]
    assert [(c[3], c[4], c[5]) for c in adds] == [
        ("timeout", {"timeout": 0}, "downstream"), ("timeout", {"timeout": 0}, "upstream")]


def test_latency_sends_latency_and_jitter() -> None:
    target = Target()
    make_fault("latency", link="client-0", latency_ms=500, jitter_ms=200).start(target)  # type: ignore[arg-type]
    (call,) = target.toxiproxy.calls
    assert call[1:5] == ("proxy-client-0", "harness-latency-downstream", "latency",
                         {"latency": 500, "jitter": 200})


def test_a_half_applied_toxic_is_still_removed() -> None:
    target = Target(RecordingToxiproxy(fail_add=True))
    with pytest.raises(ToxiproxyError), applied(make_fault("blackhole", link="nats-0"), target):  # type: ignore[arg-type]
        pass
    assert not target.toxiproxy.toxic_names


def test_kill_heal_restarts_only_what_it_killed() -> None:
    target = Target()
    fault = make_fault("kill_nats")
    fault.heal(target)  # type: ignore[arg-type]
    assert target.services["nats"].events == []
    fault.start(target)  # type: ignore[arg-type]
    fault.heal(target)  # type: ignore[arg-type]
    fault.heal(target)  # type: ignore[arg-type]
    assert target.services["nats"].events == ["kill", "restart"]


def test_flapping_toggles_and_ends_up() -> None:
    target = Target()
    fault = make_fault("flapping", link="nats-0", period_s=0.05, down_s=0.02)
    fault.start(target)  # type: ignore[arg-type]
    flapped = threading.Event()
    for _ in range(500):  # bounded: at most ~5 s even if the thread never flaps
        if sum(1 for c in list(target.toxiproxy.calls) if c == ("enabled", "proxy-nats-0", False)) >= 2:
            flapped.set()
            break
        flapped.wait(0.01)
    fault.heal(target)  # type: ignore[arg-type]
    assert flapped.is_set()
    assert target.toxiproxy.calls[-1] == ("enabled", "proxy-nats-0", True)


@pytest.mark.parametrize(("name", "params", "error"), [
    ("nope", {}, KeyError),
    ("latency", {"link": "x", "latencyms": 5}, TypeError),
    ("latency", {"link": "x", "stream": "sideways"}, ValueError),
    ("latency", {"link": "x", "toxicity": 2.0}, ValueError),
    ("flapping", {"link": "x", "period_s": 1.0, "down_s": 1.0}, ValueError),
])
def test_bad_fault_specs_are_refused(name: str, params: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        make_fault(name, **params)
