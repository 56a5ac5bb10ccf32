"""A complete, passing run on disk for gate tests: run manifest, outcomes and every gated KPI."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from harness.kpi import CATALOGUE, KPIResult, kpi_from_catalogue, write_suite
from harness.run_manifest import begin_run, record_outcome
from harness.run_stamp import RUN_ID_ENV

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RUN_ID = "test-run-1"

PASSING: dict[str, float] = {
    "backend_coverage": 90.0, "security_coverage": 95.0, "nats_coverage": 90.0, "config_coverage": 100.0,
    "client_machine_coverage": 100.0, "client_coverage": 85.0, "invalid_config_rejected": 1.0,
    "alias_bombs_blocked": 0, "validator_bypasses": 0, "dos_blocked_ratio": 0.99,
    "compliant_p99_under_flood": 40.0, "compliant_refusals": 0, "message_delivery_rate": 1.0,
    "message_loss_rate": 0.0, "dlq_accounted": 1.0, "nats_recovery_s": 0.4, "chat_answered_rate": 1.0,
    "chat_accepted_during_faults": 1.0, "dlq_replayed": 1.0, "availability_during_nats_faults": 1.0,
    "connection_success_rate": 1.0, "connection_recovery_s": 1.5, "infinite_reconnect_loops": 0,
    "alias_check_us": 15.0, "rate_limit_check_us": 1.0, "nats_handler_overhead_ms": 0.1,
    "rate_limiter_memory_kib_per_1000": 100.0, "alias_graph_memory_kib_per_1000": 300.0,
    "xstate_bundle_gzip_kb": 15.0, "critical_vulnerabilities": 0,
    "audit_bytes_per_refusal": 120.0, "audit_growth_mb_per_min_under_abuse": 0.5,
    "login_guesses_per_account_per_hour": 20.0, "legit_login_p99_under_login_flood_ms": 400.0,
    "compliant_p99_under_abuse_ms": 80.0, "server_rss_growth_under_abuse_mb": 10.0,
    "nats_handler_throughput_ratio": 0.9, "make_verify_minutes": 15.0, "spoofing_chars_delivered": 0,
    "seeded_faults_caught": 1.0, "chat_delivered_after_outage": 1.0, "outbox_drain_s": 3.0, "a11y_violations": 0,
    "herd_recovery_s": 1.5, "herd_failed_clients": 0,
    "alerts_fired_as_expected": 1.0, "false_alerts_in_baseline": 0,
    "server_cpu_us_per_look": 2.5, "server_cpu_us_per_refusal": 1.2, "server_cpu_us_per_say": 2.5,
    "server_rss_mb_per_1000_idle_players": 40.0,
    "cluster_failover_s": 0.5, "cross_server_eviction_s": 0.3, "alias_propagation_ms": 150.0, "double_sessions": 0,
}
"""A passing value for every gated catalogue KPI."""


@contextmanager
def run_env(run_id: str = RUN_ID) -> Iterator[None]:
    with mock.patch.dict(os.environ, {RUN_ID_ENV: run_id}):
        yield


def suite_of(kpi_id: str) -> str:
    return CATALOGUE[kpi_id].measured_by[0]


def write_all(reports: Path, overrides: Mapping[str, float | None] | None = None, skip: tuple[str, ...] = (),
              *, full: bool = False, samples: Mapping[str, int] | None = None,
              manifest: bool = True, outcomes: Mapping[str, int] | None = None) -> set[str]:
    """Write a run: every gated KPI (passing unless overridden), run.json, exit 0 for each suite.

    Returns the suites written. ``samples`` overrides the sample of a KPI (default: its full-run
    minimum); ``outcomes`` overrides exit codes (a suite mapped to -1 gets no outcome).
    """
    values = {**PASSING, **(overrides or {})}
    by_suite: dict[str, list[KPIResult]] = {}
    for kpi_id, value in values.items():
        if kpi_id in skip:
            continue
        sample = (samples or {}).get(kpi_id, CATALOGUE[kpi_id].min_sample)
        for suite in CATALOGUE[kpi_id].measured_by:  # a KPI of two suites stands only when both report it
            by_suite.setdefault(suite, []).append(kpi_from_catalogue(kpi_id, value, f"test {suite}", sample=sample))
    suites = {s for k in PASSING for s in CATALOGUE[k].measured_by}
    with run_env():
        if manifest:
            begin_run(reports, sorted(suites), full=full)
        for suite, kpis in by_suite.items():
            write_suite(suite, kpis, started=T0, finished=T0 + timedelta(seconds=7), out_dir=reports / "kpi")
        if manifest:
            for suite in sorted(suites):
                code = (outcomes or {}).get(suite, 0)
                if code >= 0:
                    record_outcome(reports, suite, code, None if code == 0 else "test failure")
    return suites


def edit_file(path: Path, edit: Any) -> None:
    """Rewrite a suite file through ``edit(data)`` (what a forged or stale file looks like)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def edit_kpi(path: Path, kpi_id: str, **fields: Any) -> None:
    def edit(data: dict[str, Any]) -> None:
        (entry,) = [k for k in data["kpis"] if k["id"] == kpi_id]
        entry.update(fields)

    edit_file(path, edit)
