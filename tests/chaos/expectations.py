"""What every chaos scenario must show, stated as measured figures so a failure names them."""

from __future__ import annotations

from typing import Any

from harness.kpi import compare, spec_for
from harness.results import ScenarioResult, check_failures

__all__ = ["summary", "violations"]

DELIVERY_KPIS = ("message_delivery_rate", "message_loss_rate", "dlq_accounted")


def _kpi(kpi_id: str, value: Any) -> str | None:
    spec = spec_for(kpi_id)
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
    acceptance = result.checks.get("acceptance", {})
    problem = _kpi("chat_answered_rate", acceptance.get("chat_answered_rate"))
    if problem:
        problems.append(f"{problem} (unanswered: {acceptance.get('unanswered_tokens', [])[:10]})")
    if acceptance.get("applicable", True):
        problem = _kpi("chat_accepted_during_faults", acceptance.get("chat_accepted_during_faults"))
        if problem:
            problems.append(f"{problem} ({acceptance.get('refused_during_faults')} refused, "
                            f"{acceptance.get('unanswered_during_faults')} unanswered of "
                            f"{acceptance.get('sent_during_faults')}; errors {acceptance.get('refusal_errors')})")
    recovery = result.checks.get("recovery", {})
    if recovery.get("unhealed") or recovery.get("unrecovered"):
        problems.append(f"fault windows not healed {recovery.get('unhealed')} or not recovered "
                        f"{recovery.get('unrecovered')}")
    elif recovery.get("nats_recovery_s") is None:
        problems.append("nats_recovery_s not measured (no delivery after any heal)")
    else:
        problem = _kpi("nats_recovery_s", recovery.get("nats_recovery_s"))
        if problem:
            problems.append(f"{problem} per server: {_per_server(recovery)}")
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
    settled = result.checks.get("replay_settled", {})
    if settled.get("valid") is not True:
        problems.append(f"DLQ after replay: {settled.get('problems') or settled.get('error')} "
                        f"(residue {settled.get('residue', [])[:5]}, resent {settled.get('resent', [])[:5]})")
    outbox = result.checks.get("outbox", {})
    if outbox.get("applicable") and outbox.get("valid") is not True:
        problems.append(f"outbox: {outbox.get('problems') or outbox.get('error') or outbox.get('valid')} "
                        f"(not delivered {outbox.get('not_delivered_tokens', [])[:5]}, stale sent "
                        f"{outbox.get('stale_sent', [])[:5]}, stale not kept {outbox.get('stale_not_kept', [])[:5]})")
    elif outbox.get("valid") == "unknown" or "outbox" not in result.checks:
        problems.append(f"outbox not judged: {outbox.get('error') or 'no outbox check in the run'}")
    if result.check("latency", "received_before_sent"):
        problems.append(f"received before sent: {result.check('latency', 'received_before_sent')[:10]}")
    if result.check("timeline", "received_never_said"):
        problems.append(f"received but never said: {result.check('timeline', 'received_never_said')[:10]}")
    if check_failures(result) and not problems:
        problems.extend(check_failures(result))  # a check failed in a way not itemised above
    return problems


def _per_server(recovery: Any) -> str:
    def seconds(value: Any) -> str:
        return "none" if value is None else f"{float(value):.3g}"

    rows = recovery.get("per_server") or []
    return ", ".join(f"{r['window']}@{r['server']}={seconds(r['recovery_s'])}" for r in rows) or "none"


def summary(result: ScenarioResult) -> str:
    """One line of the figures a reader needs to judge the run (printed by every scenario test)."""
    delivery = result.checks.get("delivery", {})
    acceptance = result.checks.get("acceptance", {})
    recovery = result.checks.get("recovery", {})
    return (f"{result.scenario}: acknowledged={delivery.get('acknowledged')} delivered={delivery.get('delivered')} "
            f"dead_lettered={delivery.get('dead_lettered')} lost={delivery.get('lost')} "
            f"reached_only_by_replay={len(delivery.get('reached_only_by_replay') or [])} "
            f"sent={acceptance.get('sent')} answered_rate={acceptance.get('chat_answered_rate')} "
            f"refused={acceptance.get('refused')} queued={acceptance.get('queued')} "
            f"accepted_during_faults={acceptance.get('chat_accepted_during_faults')} "
            f"({acceptance.get('accepted_during_faults')}/{acceptance.get('sent_during_faults')}, "
            f"{acceptance.get('refused_during_faults')} refused) "
            f"recovery_p95_s={recovery.get('nats_recovery_s')} per server [{_per_server(recovery)}] "
            f"fsm_recovery_s={result.check('transitions', 'fsm_recovery_s')} "
            f"outbox: {result.check('outbox', 'delivered_after_outage')}/{result.check('outbox', 'due')} due lines "
            f"sent after the heal in {result.check('outbox', 'outbox_drain_s')} s, "
            f"{result.check('outbox', 'stale')} stale kept "
            f"replayed={result.check('replay', 'replayed')}/{result.check('replay', 'dlq_entries')} "
            f"dlq_after_replay={result.check('replay_settled', 'entries_after')}; history {result.history}")
