"""The abuse suite's KPIs, computed from what the attacks and the compliant players recorded.

Thresholds come from the catalogue (``harness.kpi``) only. A KPI whose attack did not complete,
or that rests on too few samples, is written as not measured (value None), never as a pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.abuse.compliant_log import CompliantWindow, Spoofing
from harness.abuse.measure import percentile
from harness.kpi import KPIResult, kpi_from_catalogue

__all__ = ["ABUSE_KPIS", "Totals", "abuse_kpis"]

ABUSE_KPIS = (
    "audit_bytes_per_refusal",
    "audit_growth_mb_per_min_under_abuse",
    "login_guesses_per_account_per_hour",
    "legit_login_p99_under_login_flood_ms",
    "compliant_p99_under_abuse_ms",
    "server_rss_growth_under_abuse_mb",
    "spoofing_chars_delivered",
)
MIB = 2**20
EVIDENCE = "harness/abuse (harness abuse; tests/abuse)"


@dataclass(frozen=True, slots=True)
class Totals:
    """Everything the KPIs are computed from, gathered by the runner."""

    completed: Sequence[str]
    audit_bytes: int | None
    """Audit log growth from the first attack to after the server stopped (its shutdown flush included)."""
    refusals: int
    abuse_s: float
    guesses_per_hour: Mapping[str, float]
    """Per brute-forced account (only attacks that completed)."""
    legit_login_ms: Sequence[float] | None
    compliant: CompliantWindow
    rss_before_kib: int | None
    rss_after_kib: int | None
    spoofing: Spoofing | None
    per_attack: Mapping[str, Mapping[str, Any]]


def _kpi(kpi_id: str, value: float | None, evidence: str, sample: int) -> KPIResult:
    text = evidence if value is not None else f"not measured: {evidence}"
    return kpi_from_catalogue(kpi_id, value, f"{text} [{EVIDENCE}]", sample=sample)


def _audit(t: Totals) -> list[KPIResult]:
    per_attack = ", ".join(f"{name} {fig['audit_bytes']} B/{fig['refusals']}"
                           for name, fig in t.per_attack.items() if fig.get("audit_bytes") is not None)
    if t.audit_bytes is None or not t.completed:
        reason = "no attack completed, or the audit log could not be read"
        return [_kpi("audit_bytes_per_refusal", None, reason, t.refusals),
                _kpi("audit_growth_mb_per_min_under_abuse", None, reason, 0)]
    per_refusal = round(t.audit_bytes / t.refusals, 1) if t.refusals else None
    rate = round(t.audit_bytes / MIB / (t.abuse_s / 60.0), 3) if t.abuse_s > 0 else None
    return [
        _kpi("audit_bytes_per_refusal", per_refusal,
             f"{t.audit_bytes} audit bytes over {t.refusals} refused commands and logins "
             f"(per attack, bytes/refusals: {per_attack})", t.refusals),
        _kpi("audit_growth_mb_per_min_under_abuse", rate,
             f"{t.audit_bytes / MIB:.2f} MiB in {t.abuse_s:.1f} s of attacks", round(t.abuse_s)),
    ]


def _guesses(t: Totals) -> KPIResult:
    wanted = ("login_brute_force_admin", "login_brute_force_player")
    missing = [name for name in wanted if name not in t.guesses_per_hour]
    if missing:
        return _kpi("login_guesses_per_account_per_hour", None, f"{', '.join(missing)} did not complete", 0)
    worst = max(t.guesses_per_hour, key=lambda name: t.guesses_per_hour[name])
    shown = ", ".join(f"{name} {value:.0f}/h" for name, value in t.guesses_per_hour.items())
    evaluated = sum(int(t.per_attack[n].get("evaluated", 0)) for n in wanted)
    return _kpi("login_guesses_per_account_per_hour", round(t.guesses_per_hour[worst], 1),
                f"worst account {worst}: {shown} (per address, evaluated guesses in the window plus the rest of "
                f"the hour at the pace its 429s imposed, or its window's rate when never slowed; summed)", evaluated)


def _legit(t: Totals) -> KPIResult:
    samples = t.legit_login_ms
    if not samples:
        return _kpi("legit_login_p99_under_login_flood_ms", None, "login_flood did not complete or logged nobody in", 0)
    p99 = percentile(samples, 99)
    gave_up = int(t.per_attack.get("login_flood", {}).get("legit_gave_up", 0))
    return _kpi("legit_login_p99_under_login_flood_ms", None if p99 is None else round(p99, 1),
                f"{len(samples)} real logins from 127.0.0.1 during the Locust flood, {gave_up} gave up "
                f"(counted at the full patience)", len(samples))


def _compliant(t: Totals) -> KPIResult:
    window = t.compliant
    p99 = window.p99_ms
    refused = sum(window.refused.values())
    text = (f"{window.commands} compliant round trips during the attacks ({len(window.accepted_ms)} accepted, "
            f"{refused} refused, {window.timeouts} timeouts counted at {window.timeout_ms:.0f} ms)")
    if p99 is None:
        text += f"; fewer than the {20} round trips a p99 needs"
    return _kpi("compliant_p99_under_abuse_ms", None if p99 is None else round(p99, 1), text, len(window.samples))


def _rss(t: Totals) -> KPIResult:
    if t.rss_before_kib is None or t.rss_after_kib is None:
        return _kpi("server_rss_growth_under_abuse_mb", None, "the server's VmRSS could not be read", 0)
    growth = (t.rss_after_kib - t.rss_before_kib) / 1024.0
    return _kpi("server_rss_growth_under_abuse_mb", round(growth, 1),
                f"VmRSS {t.rss_before_kib / 1024:.1f} -> {t.rss_after_kib / 1024:.1f} MiB across the attacks "
                f"(/proc/<pid>/status)", 2)


def _spoofing(t: Totals) -> KPIResult:
    if t.spoofing is None or "unicode_chat" not in t.completed:
        return _kpi("spoofing_chars_delivered", None, "unicode_chat did not complete", 0)
    if t.spoofing.events == 0:
        return _kpi("spoofing_chars_delivered", None, "the compliant players received no events to check", 0)
    s = t.spoofing
    examples = f"; e.g. {', '.join(s.samples)}" if s.samples else ""
    return _kpi("spoofing_chars_delivered", float(s.characters),
                f"hidden or direction-changing characters in {s.events} events other players received{examples}",
                s.events)


def abuse_kpis(totals: Totals) -> list[KPIResult]:
    """The seven abuse KPIs, in catalogue order."""
    return [*_audit(totals), _guesses(totals), _legit(totals), _compliant(totals), _rss(totals),
            _spoofing(totals)]
