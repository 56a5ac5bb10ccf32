"""Every scenario module is well-formed data: named after its file, bounded, faults on real links."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import scenarios
from scenarios.base import ChaosTest, noop_test

NAMES = sorted(m.name for m in pkgutil.iter_modules(scenarios.__path__) if m.name != "base")
MAX_SCENARIO_S = 120.0
SETUP_ALLOWANCE_S = 30.0


def test_the_issue_asks_for_at_least_nine_scenarios() -> None:
    assert len(NAMES) >= 9


@pytest.mark.parametrize("name", NAMES)
def test_scenario_module_is_consistent(name: str) -> None:
    test = importlib.import_module(f"scenarios.{name}").SCENARIO
    assert isinstance(test, ChaosTest)
    assert test.name == name
    assert test.evidence == f"scenarios/{name}.py"
    # split_login has no fault: its workloads' races are the stress (harness.cluster).
    assert test.schedule.windows or test.workloads, "a chaos scenario without a fault or a workload is the noop test"
    assert test.schedule.total_s + SETUP_ALLOWANCE_S < MAX_SCENARIO_S
    links = {f"{kind}-{i}" for kind in ("nats", "client") for i in range(test.topology.mythos)}
    nodes = {f"nats-{i}" for i in range(test.topology.nats_cluster)} if test.topology.nats_cluster > 1 else set()
    services = {*(nodes or {"nats"}), *(f"mythos-{i}" for i in range(test.topology.mythos)),
                *({"postgres"} if test.topology.db == "postgres" else set())}
    for window in test.schedule.windows:
        if "link" in window.params:
            assert window.params["link"] in links
        if "service" in window.params:
            assert window.params["service"] in services
        if "node" in window.params:
            assert window.params["node"] in nodes


def test_noop_is_fault_free_and_overridable() -> None:
    assert noop_test().schedule.windows == ()
    assert noop_test(name="x").name == "x"
    with pytest.raises(ValueError):
        noop_test(players=(0, 1))  # only one mythos in the default topology


def test_the_fast_subset_names_real_scenarios_and_covers_the_issue() -> None:
    assert set(scenarios.FAST) <= set(NAMES)
    assert {"nats_partition", "nats_blackhole", "nats_kill"} <= set(scenarios.FAST)


def test_weakened_runs_core_nats_without_retries_and_keeps_the_faults() -> None:
    from harness.topology import KNOWN_WEAK_ENV
    from scenarios.base import weakened

    strong = importlib.import_module("scenarios.nats_blackhole").SCENARIO
    weak = weakened(strong)
    assert weak.name == "nats_blackhole_weak"
    assert weak.schedule == strong.schedule
    assert weak.topology.jetstream is False
    assert weak.topology.mythos_env["NATS_USE_JETSTREAM"] == "false"
    assert weak.topology.mythos_env["NATS_PUBLISH_RETRY_ATTEMPTS"] == "1"
    assert dict(KNOWN_WEAK_ENV).items() <= dict(weak.topology.mythos_env).items()
    assert strong.topology.mythos_env.get("NATS_USE_JETSTREAM") != "false"  # the original is untouched
