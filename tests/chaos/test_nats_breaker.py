"""The circuit breaker under a real fault: publishes time out on a live NATS link.

``scenarios/nats_breaker.py`` delays the NATS -> mythos side of the link past the publish ack
timeout but not past the ping bound, so the link stays up while every publish fails. Besides
every scenario's expectations (``tests.chaos.expectations``), this asserts what the other
scenarios cannot show, all read from the run's history and /metrics samples:

- the breaker went closed -> open -> half_open -> closed, in the sampled state gauge and in the
  transition counters (a half-open breaker may close between two scrapes), and the link never
  dropped (the link FSM only mirrors the open breaker as circuit_open);
- chat was refused with ``chat_unavailable`` while it was open, each refusal in the DLQ exactly
  once and delivered after the replay;
- non-chat commands and health probes kept being answered, and the breaker closed after the heal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.checker import fault_windows, metrics_series
from harness.cli import load_scenario
from harness.history import F, Op, load_history
from harness.results import ScenarioResult
from scenarios.base import run_scenario
from tests.chaos.expectations import summary, violations
from tests.chaos.pool import ScenarioPool
from tests.chaos.session import ChaosSession

pytestmark = [pytest.mark.chaos, pytest.mark.scenario("nats_breaker"), pytest.mark.timeout(240)]

CYCLE_CHECK = "nats_breaker: breaker cycle"
"""The name this test's own assertions veto the chaos suite under when they fail."""

SERVER = "mythos-0"
BREAKER_CYCLE = ("closed", "open", "half_open", "closed")
CYCLE_STEPS = ("closed->open", "open->half_open", "half_open->closed")
LINK_UP_STATES = {"connected", "circuit_open"}
"""circuit_open is the link FSM mirroring an open breaker on a live transport."""


def contains_in_order(path: Sequence[Any], wanted: Sequence[Any]) -> bool:
    """``wanted`` is a subsequence of ``path`` (other states may come between)."""
    remaining = iter(path)
    return all(any(state == step for state in remaining) for step in wanted)


def collapse(values: Sequence[Any]) -> list[Any]:
    path: list[Any] = []
    for value in values:
        if not path or path[-1] != value:
            path.append(value)
    return path


def _open_spans(samples: Sequence[tuple[float, Mapping[str, Any]]]) -> list[tuple[float, float]]:
    """(first, last) sample time of each run of samples with the breaker open."""
    spans: list[tuple[float, float]] = []
    previous: float | None = None
    for t, value in samples:
        if value.get("breaker_state") != "open":
            previous = None
            continue
        if previous is not None:
            spans[-1] = (spans[-1][0], t)
        else:
            spans.append((t, t))
        previous = t
    return spans


def breaker_figures(ops: Sequence[Op]) -> dict[str, Any]:
    samples = metrics_series(ops).get(SERVER, [])
    window = next(w for w in fault_windows(ops) if w["fault"] == "latency")
    start, healed = window["start"], window["healed"]
    spans = _open_spans(samples)
    refusals = [op for op in ops if op.f == F.SAY and op.type == "fail"]
    open_refusals = [op for op in refusals
                     if any(first - 0.5 <= op.time <= last + 0.5 for first, last in spans)]
    closed_again = next((t for t, v in samples if healed is not None and t >= healed
                         and v.get("breaker_state") == "closed"), None)
    return {
        "breaker_path": collapse([v.get("breaker_state") for _, v in samples]),
        "breaker_transitions": dict(samples[-1][1].get("breaker_transitions") or {}) if samples else {},
        "link_path": collapse([v.get("connection_state") for _, v in samples]),
        "reconnects": [samples[0][1]["reconnects"], samples[-1][1]["reconnects"]] if samples else None,
        "opened_after_fault_s": round(spans[0][0] - start, 2) if spans else None,
        "open_s": round(sum(last - first for first, last in spans), 2),
        "closed_after_heal_s": None if closed_again is None or healed is None else round(closed_again - healed, 2),
        "refusals": len(refusals),
        "refusal_errors": sorted({str(op.error) for op in refusals}),
        "refusals_while_open": len(open_refusals),
        "samples": len(samples),
    }


def _run_breaker(reports: Path, _scratch: Path) -> ScenarioResult:
    return run_scenario(load_scenario("nats_breaker"), reports=reports)


@pytest.mark.runs.with_args(_run_breaker)
def test_breaker_opens_refuses_chat_and_closes_when_publishes_time_out(
        request: pytest.FixtureRequest, chaos_pool: ScenarioPool, chaos_session: ChaosSession) -> None:
    chaos_session.fail(CYCLE_CHECK)  # until shown otherwise: a run that raises must not pass it
    result = chaos_session.record(chaos_pool.result(request.node))
    _, ops = load_history(Path(result.history))
    figures = breaker_figures(ops)
    delivery = result.checks.get("delivery", {})
    line = (f"nats_breaker: {figures}; sent_fail={delivery.get('sent_fail')} "
            f"sent_info={delivery.get('sent_info')} dlq_expected={delivery.get('dlq_expected')} "
            f"dlq_entries={delivery.get('dlq_entries')} "
            f"availability={result.check('availability', 'availability_during_nats_faults')} "
            f"({result.check('availability', 'by_kind')}); {summary(result)}")
    print(line)

    cycle: list[str] = []
    if not contains_in_order(figures["breaker_path"], BREAKER_CYCLE):
        cycle.append(f"sampled breaker path {figures['breaker_path']} lacks {' -> '.join(BREAKER_CYCLE)}")
    counted = figures["breaker_transitions"]
    if not all(counted.get(step, 0) >= 1 for step in CYCLE_STEPS):
        cycle.append(f"breaker transition counters {counted} lack one of {CYCLE_STEPS}")
    if not set(figures["link_path"]) <= LINK_UP_STATES:
        cycle.append(f"the link dropped (path {figures['link_path']}): the fault was not publish-only")
    if figures["reconnects"] is None or figures["reconnects"][0] != figures["reconnects"][1]:
        cycle.append(f"reconnects moved {figures['reconnects']}: the link dropped")
    if not figures["refusals_while_open"]:
        cycle.append("no chat line was refused while the breaker was open")
    if figures["refusal_errors"] != ["chat_unavailable"]:
        cycle.append(f"refusals not plain chat_unavailable: {figures['refusal_errors']}")
    if figures["closed_after_heal_s"] is None:
        cycle.append("the breaker was not seen closed after the heal")
    if not cycle:
        chaos_session.passed(CYCLE_CHECK)
    problems = [*violations(result), *cycle]
    assert not problems, "\n".join([line, *problems])
