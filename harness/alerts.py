"""Prometheus alerts during a chaos run: when each fired, which had to, and the two alert KPIs.

A real Prometheus (:mod:`harness.services.prometheus`) evaluates the shipped rules while the
scenario runs, and its alerts are recorded in the history (operation ``alerts``, process
``prometheus``) each time they change. This module reads them back as a timeline and judges
it against what the scenario's faults must and may fire:

- a NATS partition of at least :data:`MIN_PARTITION_S` must fire ``MythosNatsLinkDown`` and
  ``MythosDlqGrowing`` on the server whose link it cuts;
- latency above the publish ack timeout for at least :data:`MIN_BREAKER_S` must fire
  ``MythosNatsBreakerNotClosed`` there (the ``nats_breaker`` scenario);
- a fault may fire the NATS and health alerts on the servers it touches (shorter faults race
  the shortened ``for:``), and a stopped game server may fire ``MythosTargetDown``;
- anything else that fires is a false alert, and in a run without faults (``noop``) every
  alert is one;
- every alert that fired must have resolved by the end of the run (after the heals and the DLQ
  replay).

Pure functions of the test description and the history: ``harness analyze`` re-judges a saved run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.history import F, Op
from harness.kpi import KPIResult, kpi_from_catalogue

__all__ = ["ALERTS_OP", "MIN_BREAKER_S", "MIN_PARTITION_S", "AlertSpan", "alert_kpis", "alert_spans",
           "judge_alerts"]

ALERTS_OP = F.ALERTS
LINK_DOWN = "MythosNatsLinkDown"
DLQ_GROWING = "MythosDlqGrowing"
BREAKER = "MythosNatsBreakerNotClosed"
NATS_ALERTS = frozenset({LINK_DOWN, BREAKER, DLQ_GROWING, "MythosDlqNotEmpty", "MythosNatsPublishErrorRatioHigh",
                         "MythosHealthDegraded"})
"""What a NATS fault may fire on the servers it touches."""
SERVER_DOWN_ALERTS = frozenset({"MythosTargetDown", "MythosHealthDegraded", *NATS_ALERTS})
"""What a stopped or killed game server may fire on itself (it comes back connecting to NATS)."""
MIN_PARTITION_S = 8.0
"""A partition this long certainly outlasts detection (about 2 s), one scrape and the 2 s ``for:``."""
PUBLISH_ACK_TIMEOUT_MS = 2000
MIN_BREAKER_S = 10.0

Affected = Callable[[Mapping[str, Any], Sequence[str]], list[str]]


@dataclass(frozen=True, slots=True)
class AlertSpan:
    """One alert on one server, from the first poll that saw it in ``state`` to the first that did not."""

    alert: str
    server: str
    state: str
    start: float
    end: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"alert": self.alert, "server": self.server, "state": self.state, "start": round(self.start, 3),
                "end": None if self.end is None else round(self.end, 3)}


def _alert_ops(history: Sequence[Op]) -> list[Op]:
    return [op for op in history if op.f == ALERTS_OP and op.type == "ok"]


def alert_spans(history: Sequence[Op]) -> list[AlertSpan]:
    """Every firing and pending span the watch recorded, in order of start."""
    open_: dict[tuple[str, str, str], float] = {}
    spans: list[AlertSpan] = []
    for op in _alert_ops(history):
        value = op.value or {}
        if value.get("phase") != "run":
            continue
        now = {(state, str(row["alert"]), str(row["server"]))
               for state in ("firing", "pending") for row in value.get(state, [])}
        for key in [k for k in open_ if k not in now]:
            state, alert, server = key
            spans.append(AlertSpan(alert, server, state, open_.pop(key), op.time))
        for key in now:
            open_.setdefault(key, op.time)
    spans.extend(AlertSpan(alert, server, state, start, None) for (state, alert, server), start in open_.items())
    return sorted(spans, key=lambda s: (s.start, s.alert, s.server, s.state))


def _expectations(windows: Sequence[Mapping[str, Any]], servers: Sequence[str],
                  affected: Affected) -> tuple[list[dict[str, Any]], set[tuple[str, str]]]:
    """(alerts that must fire, per window and server; (alert, server) pairs that may fire)."""
    must: list[dict[str, Any]] = []
    may: set[tuple[str, str]] = set()
    for window in windows:
        params = window.get("params") or {}
        start, healed = window.get("start"), window.get("healed")
        length = (healed - start) if start is not None and healed is not None else 0.0
        touched = affected(window, servers)
        required: set[str] = set()
        if window.get("fault") == "partition" and length >= MIN_PARTITION_S:
            required = {LINK_DOWN, DLQ_GROWING}
        elif (window.get("fault") == "latency" and float(params.get("latency_ms", 0)) > PUBLISH_ACK_TIMEOUT_MS
              and length >= MIN_BREAKER_S):
            required = {BREAKER}
        for server in touched:
            must.extend({"alert": alert, "server": server, "window": window.get("window")}
                        for alert in sorted(required))
            may.update((alert, server) for alert in NATS_ALERTS)
        service = str(params.get("service", ""))
        if service in servers:
            may.update((alert, service) for alert in SERVER_DOWN_ALERTS)
        elif service:  # a shared dependency (the database): every server's health may say so
            may.update(("MythosHealthDegraded", server) for server in servers)
    return must, may


def judge_alerts(test: Mapping[str, Any], history: Sequence[Op], windows: Sequence[Mapping[str, Any]],
                 affected: Affected) -> dict[str, Any]:
    """The ``alerts`` check: expected alerts fired and resolved, no other alert fired."""
    ops = _alert_ops(history)
    if not ops:
        return {"valid": "unknown", "applicable": False,
                "error": "no Prometheus watched this run (the chaos suite sets HARNESS_PROMETHEUS)"}
    started = next((op for op in ops if (op.value or {}).get("phase") == "start"), None)
    ended = next((op for op in ops if (op.value or {}).get("phase") == "end"), None)
    if started is None or ended is None:
        return {"valid": "unknown", "applicable": True, "error": "the alert watch did not start and end"}
    servers = sorted((started.value or {}).get("targets", {}))
    scrapes = (ended.value or {}).get("scrapes")
    unscraped = [s for s in servers if not (scrapes or {}).get(s)]
    if unscraped:
        return {"valid": "unknown", "applicable": True, "servers": servers, "scrapes": scrapes,
                "error": f"Prometheus never scraped {unscraped}: its alerts could not have fired"}
    baseline = not windows
    spans = alert_spans(history)
    firing = [s for s in spans if s.state == "firing"]
    fired = sorted({(s.alert, s.server) for s in firing})
    must, may = _expectations(windows, servers, affected)
    by_window = {str(w.get("window")): w for w in windows}
    missing = []
    for row in must:
        window = by_window.get(str(row["window"]), {})
        since = window.get("start") or 0.0
        if not any(s.alert == row["alert"] and s.server == row["server"] and (s.end is None or s.end >= since)
                   for s in firing):
            missing.append(row)
    unexpected = [{"alert": a, "server": s} for a, s in fired if (a, s) not in may
                  and not any(r["alert"] == a and r["server"] == s for r in must)]
    unresolved = [s.to_dict() for s in firing if s.end is None]
    last_heal = max((w["healed"] for w in windows if w.get("healed") is not None), default=None)
    resolved_after_heal = {f"{s.alert}@{s.server}": round(s.end - last_heal, 3)
                           for s in firing if s.end is not None and last_heal is not None and s.end >= last_heal}
    errors = int((ended.value or {}).get("errors") or 0)
    return {
        "valid": not (missing or unexpected or unresolved),
        "applicable": True,
        "baseline": baseline,
        "servers": servers,
        "expected": must,
        "fired": [{"alert": a, "server": s} for a, s in fired],
        "missing": missing,
        "unexpected": unexpected,
        "unresolved": unresolved,
        "false_alerts": len(fired) if baseline else len(unexpected),
        "resolved_after_last_heal_s": resolved_after_heal,
        "spans": [s.to_dict() for s in spans],
        "watch_errors": errors,
        "scrapes": scrapes,
        "settings": {k: (started.value or {}).get(k) for k in ("for_s", "range_s", "scrape_interval_s")},
    }


def _pairs(rows: Any) -> list[str]:
    return [f"{row['alert']}@{row['server']}" for row in rows or ()]


def _check(result: Any) -> Mapping[str, Any] | None:
    section = result.checks.get("alerts") if isinstance(result.checks, Mapping) else None
    return section if isinstance(section, Mapping) else None


def alert_kpis(results: Sequence[Any]) -> list[KPIResult]:
    """alerts_fired_as_expected over the runs with faults, false_alerts_in_baseline over the noop runs.

    ``results`` are :class:`harness.results.ScenarioResult`; a run whose alerts were not judged
    (no Prometheus, the watch broke) leaves both not measured.
    """
    checks = [(r, _check(r)) for r in results]
    unjudged = [r.scenario for r, c in checks if c is None or c.get("valid") not in (True, False)]
    if unjudged:
        reason = f"not measured: no alert verdict for {', '.join(unjudged)}"
        return [kpi_from_catalogue("alerts_fired_as_expected", None, reason),
                kpi_from_catalogue("false_alerts_in_baseline", None, reason)]
    faulted = [(r, c) for r, c in checks if c is not None and not c.get("baseline")]
    baseline = [(r, c) for r, c in checks if c is not None and c.get("baseline")]
    kpis = []
    if faulted:
        ok = [r.scenario for r, c in faulted if c.get("valid") is True]
        bad = [f"{r.scenario} (missing {_pairs(c.get('missing'))}, unexpected {_pairs(c.get('unexpected'))}, "
               f"unresolved {_pairs(c.get('unresolved'))})"
               for r, c in faulted if c.get("valid") is not True]
        expected = sum(len(c.get("expected", [])) for _, c in faulted)
        kpis.append(kpi_from_catalogue(
            "alerts_fired_as_expected", len(ok) / len(faulted),
            f"{len(ok)} of {len(faulted)} scenarios with faults fired every expected alert ({expected} in all), "
            f"no other, and each resolved by the end; " + ("; ".join(bad) if bad else f"as expected: {', '.join(ok)}"),
            sample=len(faulted)))
    else:
        kpis.append(kpi_from_catalogue("alerts_fired_as_expected", None, "not measured: no scenario with a fault ran"))
    if baseline:
        false = sum(int(c.get("false_alerts", 0)) for _, c in baseline)
        names = sorted({name for _, c in baseline for name in _pairs(c.get("fired"))})
        kpis.append(kpi_from_catalogue(
            "false_alerts_in_baseline", float(false),
            f"{false} alerts fired in {len(baseline)} run(s) without faults "
            f"({', '.join(r.scenario for r, _ in baseline)})" + (f": {', '.join(names)}" if names else ""),
            sample=len(baseline)))
    else:
        kpis.append(kpi_from_catalogue("false_alerts_in_baseline", None, "not measured: the noop scenario did not run"))
    return kpis
