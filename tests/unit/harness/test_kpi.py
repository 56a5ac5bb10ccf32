"""The KPI catalogue and the suite file contract that every suite writes through."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.kpi import (
    CATALOGUE,
    EXTRA_KPIS,
    KPIResult,
    compare,
    kpi_from_catalogue,
    load_suite,
    not_measured,
    spec_for,
    write_suite,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
KPIS_MD = Path(__file__).resolve().parents[4] / "shared" / "KPIS.md"


def test_catalogue_holds_every_kpi_of_the_spec_table() -> None:
    expected = {
        "backend_coverage", "security_coverage", "nats_coverage", "config_coverage",
        "client_machine_coverage", "client_coverage", "invalid_config_rejected",
        "alias_bombs_blocked", "validator_bypasses", "dos_blocked_ratio",
        "compliant_p99_under_flood", "message_delivery_rate", "message_loss_rate",
        "dlq_accounted", "nats_recovery_s", "availability_during_nats_faults",
        "connection_success_rate", "connection_recovery_s", "infinite_reconnect_loops",
        "alias_check_us", "rate_limit_check_us", "nats_handler_overhead_ms",
        "rate_limiter_memory_kib_per_1000", "alias_graph_memory_kib_per_1000",
        "xstate_bundle_gzip_kb", "critical_vulnerabilities",
    }
    assert set(CATALOGUE) == expected
    assert all(spec.gated for spec in CATALOGUE.values())
    assert not set(CATALOGUE) & set(EXTRA_KPIS)


@pytest.mark.skipif(not KPIS_MD.exists(), reason="shared KPIS.md not next to the repository")
def test_catalogue_matches_the_shared_kpis_table() -> None:
    ids = re.findall(r"^\| ([a-z0-9_]+) \|", KPIS_MD.read_text(encoding="utf-8"), flags=re.M)
    assert [i for i in ids if i != "id"] == list(CATALOGUE)


@pytest.mark.parametrize(
    ("kpi_id", "value", "passed"),
    [
        ("message_delivery_rate", 0.999, True),
        ("message_delivery_rate", 0.9989, False),
        ("message_loss_rate", 0.0, True),
        ("message_loss_rate", 0.001, False),  # strict "<": the threshold itself fails
        ("backend_coverage", 80.0, True),
        ("backend_coverage", 79.99, False),
        ("connection_recovery_s", 4.99, True),
        ("connection_recovery_s", 5.0, False),
        ("validator_bypasses", 0, True),
        ("validator_bypasses", 1, False),
        ("nats_recovery_s", 30.0, True),  # spec sets no threshold: measured is enough
        ("nats_recovery_s", None, False),
        ("message_delivery_rate", None, False),
        ("message_delivery_rate", math.nan, False),
    ],
)
def test_passed_is_computed_from_value_and_spec(kpi_id: str, value: float | None, passed: bool) -> None:
    result = kpi_from_catalogue(kpi_id, value, "test")
    assert result.passed is passed
    assert result.to_dict()["passed"] is passed


def test_kpi_from_catalogue_fills_spec_fields() -> None:
    result = kpi_from_catalogue("message_loss_rate", 0.0005, "scenarios/nats_partition.py")
    assert (result.comparator, result.threshold, result.goal, result.unit) == ("<", 0.001, 0.0, "ratio")
    assert result.passed
    assert not result.goal_met
    assert result.distance_to_goal == pytest.approx(0.0005)


def test_goal_distance_is_zero_when_met_and_none_when_unmeasured() -> None:
    assert kpi_from_catalogue("message_delivery_rate", 1.0, "e").distance_to_goal == 0.0
    assert kpi_from_catalogue("message_delivery_rate", None, "e").distance_to_goal is None
    assert kpi_from_catalogue("alias_check_us", 50.0, "e").distance_to_goal == pytest.approx(30.0)


def test_unknown_id_is_refused_with_its_name() -> None:
    with pytest.raises(KeyError, match="no_such_kpi"):
        kpi_from_catalogue("no_such_kpi", 1.0, "e")


def test_not_measured_fails_and_says_why() -> None:
    result = not_measured("dependency_audit", "advisory databases unreachable")
    assert result.value is None and not result.passed and not result.measured
    assert "not measured" in result.evidence
    assert not spec_for("dependency_audit").gated


def test_a_bool_value_is_refused() -> None:
    with pytest.raises(TypeError):
        KPIResult("x", True, "", ">=", 1.0, 1.0, "e")  # type: ignore[arg-type]


def test_compare_rejects_unknown_comparator() -> None:
    with pytest.raises(ValueError):
        compare(1.0, "!=", 1.0)  # type: ignore[arg-type]


def test_write_suite_follows_the_contract(tmp_path: Path) -> None:
    kpis = [
        kpi_from_catalogue("message_loss_rate", 0.0, "scenarios/nats_partition.py"),
        kpi_from_catalogue("message_delivery_rate", 0.5, "scenarios/nats_partition.py"),
    ]
    path = write_suite("chaos", kpis, started=T0, finished=T0 + timedelta(seconds=42), out_dir=tmp_path)
    assert path == tmp_path / "chaos.json"
    data = json.loads(path.read_text())
    assert data["suite"] == "chaos"
    assert datetime.fromisoformat(data["started"]) == T0
    assert data["kpis"][0] == {
        "id": "message_loss_rate", "value": 0.0, "unit": "ratio", "comparator": "<",
        "threshold": 0.001, "goal": 0.0, "passed": True, "evidence": "scenarios/nats_partition.py",
    }
    assert data["kpis"][1]["passed"] is False
    assert load_suite(path).wall_time_s == 42.0


def test_write_without_merge_replaces(tmp_path: Path) -> None:
    write_suite("chaos", [kpi_from_catalogue("message_loss_rate", 0.0, "a")], started=T0, finished=T0,
                out_dir=tmp_path)
    write_suite("chaos", [kpi_from_catalogue("dlq_accounted", 1.0, "b")], started=T0, finished=T0,
                out_dir=tmp_path)
    assert [k.id for k in load_suite(tmp_path / "chaos.json").kpis] == ["dlq_accounted"]


def test_merge_updates_by_id_and_widens_the_time_span(tmp_path: Path) -> None:
    write_suite("chaos", [kpi_from_catalogue("message_loss_rate", 0.5, "old"),
                          kpi_from_catalogue("dlq_accounted", 1.0, "old")],
                started=T0, finished=T0 + timedelta(seconds=10), out_dir=tmp_path)
    write_suite("chaos", [kpi_from_catalogue("message_loss_rate", 0.0, "new"),
                          kpi_from_catalogue("nats_recovery_s", 0.4, "new")],
                started=T0 + timedelta(seconds=20), finished=T0 + timedelta(seconds=30),
                out_dir=tmp_path, merge=True)
    report = load_suite(tmp_path / "chaos.json")
    by_id = {k.id: k for k in report.kpis}
    assert set(by_id) == {"message_loss_rate", "dlq_accounted", "nats_recovery_s"}
    assert by_id["message_loss_rate"].evidence == "new" and by_id["message_loss_rate"].passed
    assert report.started == T0 and report.finished == T0 + timedelta(seconds=30)


def test_merge_into_missing_file_just_writes(tmp_path: Path) -> None:
    write_suite("load", [kpi_from_catalogue("dos_blocked_ratio", 0.97, "e")], started=T0, finished=T0,
                out_dir=tmp_path / "nested", merge=True)
    assert load_suite(tmp_path / "nested" / "load.json").kpis[0].passed


def test_stored_passed_flag_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "chaos.json"
    path.write_text(json.dumps({"suite": "chaos", "started": T0.isoformat(), "finished": T0.isoformat(),
                                "kpis": [{"id": "message_loss_rate", "value": 0.5, "unit": "ratio",
                                          "comparator": "<", "threshold": 0.001, "goal": 0.0,
                                          "passed": True, "evidence": "forged"}]}))
    assert not load_suite(path).kpis[0].passed


def test_duplicate_ids_in_one_write_are_refused(tmp_path: Path) -> None:
    kpi = kpi_from_catalogue("message_loss_rate", 0.0, "e")
    with pytest.raises(ValueError, match="duplicate"):
        write_suite("chaos", [kpi, kpi], started=T0, finished=T0, out_dir=tmp_path)


def test_corrupt_suite_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "chaos.json"
    path.write_text("{}")
    with pytest.raises(ValueError, match=r"chaos\.json"):
        load_suite(path)


def test_naive_datetimes_are_taken_as_utc(tmp_path: Path) -> None:
    path = write_suite("bench", [], started=datetime(2026, 1, 1), finished=datetime(2026, 1, 1, 0, 1),
                       out_dir=tmp_path)
    assert json.loads(path.read_text())["started"].endswith("+00:00")
