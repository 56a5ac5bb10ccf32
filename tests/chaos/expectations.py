"""What every chaos scenario must show, stated as measured figures so a failure names them."""

from __future__ import annotations

from typing import Any

from harness.kpi import CATALOGUE, compare
from harness.results import ScenarioResult

__all__ = ["violations"]

DELIVERY_KPIS = ("message_delivery_rate", "message_loss_rate", "dlq_accounted")


def _kpi(kpi_id: str, value: Any) -> str | None:
    spec = CATALOGUE[kpi_id]
    if value is None:
        return f"{kpi_id} not measured"
    if not compare(float(value), spec.comparator, spec.threshold):
        return f"{kpi_id} = {float(value):.4g}, spec {spec.comparator} {spec.threshold}"
    return None


def violations(result: ScenarioResult) -> list[str]:
    """Every expectation the run broke; empty when it held them all."""
    problems: list[str] = []
    delivery = result.checks.get("delivery", {})
    for kpi_id in DELIVERY_KPIS:
        problem = _kpi(kpi_id, delivery.get(kpi_id))
        if problem:
            problems.append(problem)
    if delivery.get("lost_tokens"):
        problems.append(f"lost: {delivery['lost_tokens'][:10]}")
    if delivery.get("dlq_missing_tokens"):
        problems.append(f"missing from the DLQ: {delivery['dlq_missing_tokens'][:10]}")
    if result.check("duplicates", "duplicates"):
        problems.append(f"duplicates: {result.check('duplicates', 'duplicated_tokens')[:10]}")
    if result.check("ordering", "reordered"):
        problems.append(f"reordered: {result.check('ordering', 'reordered_tokens')[:10]}")
    recovery = result.checks.get("recovery", {})
    if recovery.get("unhealed") or recovery.get("unrecovered"):
        problems.append(f"fault windows not healed {recovery.get('unhealed')} or not recovered "
                        f"{recovery.get('unrecovered')}")
    elif recovery.get("nats_recovery_s") is None:
        problems.append("nats_recovery_s not measured (no delivery after any heal)")
    availability = result.checks.get("availability", {})
    if availability.get("probes"):
        problem = _kpi("availability_during_nats_faults", availability.get("availability_during_nats_faults"))
        if problem:
            problems.append(f"{problem} ({availability.get('by_kind')})")
    steady = result.checks.get("steady_state", {})
    if steady.get("valid") is not True:
        problems.append(f"steady state: {steady.get('violations') or steady.get('valid')}")
    replay = result.checks.get("replay", {})
    if replay.get("valid") is not True:
        problems.append(f"DLQ replay: {replay.get('replayed')} of {replay.get('dlq_entries')} lines landed "
                        f"({replay.get('not_replayed', [])[:5] or replay.get('error')})")
    transitions = result.checks.get("transitions", {})
    if transitions.get("valid") is not True:
        problems.append(f"link FSM / breaker: {transitions.get('problems') or transitions.get('error')}")
    return problems
