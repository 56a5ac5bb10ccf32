"""The KPI catalogue and the suite file contract that every suite writes through."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.kpi import (
    CATALOGUE,
    EXTRA_KPIS,
    PENDING,
    VETO_STORED_FAILED,
    KPIResult,
    compare,
    kpi_from_catalogue,
    load_suite,
    not_measured,
    spec_for,
    write_suite,
)
from harness.run_stamp import head_commit, tree_dirty

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
KPIS_MD = Path(__file__).resolve().parents[4] / "shared" / "KPIS.md"


def test_every_pending_row_is_a_catalogue_row_and_only_pending_rows_are_ungated() -> None:
    assert set(CATALOGUE) >= PENDING
    assert {k for k, spec in CATALOGUE.items() if not spec.gated} == PENDING
    assert not set(CATALOGUE) & set(EXTRA_KPIS)
    # The rows issue 11 gates now.
    for kpi_id in ("compliant_refusals", "chat_answered_rate", "chat_accepted_during_faults",
                   "dlq_replayed", "nats_recovery_s", "compliant_p99_under_flood"):
        assert CATALOGUE[kpi_id].gated, kpi_id
    assert (CATALOGUE["compliant_p99_under_flood"].threshold, CATALOGUE["compliant_p99_under_flood"].goal) \
        == (250.0, 100.0)
    assert (CATALOGUE["nats_recovery_s"].threshold, CATALOGUE["nats_recovery_s"].goal) == (5.0, 1.0)


def test_the_property_kpis_name_the_sample_a_full_run_needs() -> None:
    assert {k: s.min_sample for k, s in CATALOGUE.items() if s.min_sample} == {
        "invalid_config_rejected": 5000, "alias_bombs_blocked": 5000, "validator_bypasses": 20000,
        "outbox_drain_s": 500}


# --- The catalogue against the shared KPIS.md: every row of both tables, comparator, threshold, goal.

_FIGURE = re.compile(r"(?<![\w.])(>=|<=|<|>)?\s*(\d[\d,]*(?:\.\d+)?)\s*(%|ms|us|s|KiB|KB|B)?(?![\w])")
_SCALE = {("%", "ratio"): 0.01, ("ms", "us"): 1000.0}

# Where KPIS.md's wording cannot be read as a number, the catalogue's reading, with the reason.
_READ_AS = {
    ("dlq_accounted", "spec"): (">=", 1.0),  # "every failed message in the DLQ once"
    ("alias_bombs_blocked", "goal"): ("<=", 0.0),  # "100 % ... refused": 0 incidents, as its spec
    ("chat_accepted_during_faults", "spec"): (">=", 0.99),  # "-": issue 11 gates it at its goal
}


def _read_figure(kpi_id: str, column: str, text: str, unit: str) -> tuple[str | None, float | None]:
    """(comparator, number in the catalogue's unit) of a KPIS.md cell; (None, None) for "-"."""
    if (kpi_id, column) in _READ_AS:
        return _READ_AS[kpi_id, column]
    if text.strip() == "-":
        return None, None
    match = _FIGURE.search(text)
    assert match, f"{kpi_id}: no figure in {column} {text!r}"
    comparator, number, text_unit = match.groups()
    value = float(number.replace(",", "")) * _SCALE.get((text_unit or "", unit), 1.0)
    if comparator is None:  # "0" is a ceiling, "100 %" a floor
        comparator = "<=" if value == 0 else ">="
    return comparator, value


def _kpis_md_rows() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in KPIS_MD.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"[a-z0-9_]+", cells[0]) and cells[0] != "id":
            rows[cells[0]] = (cells[1], cells[2])
    return rows


@pytest.mark.skipif(not KPIS_MD.exists(), reason="shared KPIS.md not next to the repository")
def test_catalogue_matches_the_shared_kpis_table() -> None:
    rows = _kpis_md_rows()
    assert list(rows) == list(CATALOGUE), "the catalogue has every row of KPIS.md, in its order"
    for kpi_id, (spec_text, goal_text) in rows.items():
        spec = CATALOGUE[kpi_id]
        comparator, threshold = _read_figure(kpi_id, "spec", spec_text, spec.unit)
        expected = None if threshold is None else pytest.approx(threshold)
        assert spec.threshold == expected, f"{kpi_id}: threshold {spec.threshold}, KPIS.md {spec_text!r}"
        if comparator is not None:
            # "< 0.1 %" is strict; "0" and "100 %" hold at the bound.
            assert spec.comparator == comparator, f"{kpi_id}: {spec.comparator}, KPIS.md {spec_text!r}"
        goal_comparator, goal = _read_figure(kpi_id, "goal", goal_text, spec.unit)
        assert spec.goal == pytest.approx(goal), f"{kpi_id}: goal {spec.goal}, KPIS.md {goal_text!r}"
        assert goal_comparator in {spec.comparator, spec.comparator + "="}, f"{kpi_id}: goal {goal_text!r}"


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
        ("nats_recovery_s", 5.0, True),
        ("nats_recovery_s", 5.01, False),  # spec ceiling 5 s (it had none)
        ("nats_recovery_s", None, False),
        ("compliant_p99_under_flood", 250.0, True),
        ("compliant_p99_under_flood", 250.5, False),  # it had no ceiling
        ("nats_handler_throughput_ratio", 0.1, True),  # spec "-": a finite figure is enough
        ("nats_handler_throughput_ratio", math.inf, False),
        ("message_delivery_rate", None, False),
        ("message_delivery_rate", math.nan, False),
        ("message_delivery_rate", math.inf, False),
        ("message_loss_rate", -math.inf, False),
        ("message_loss_rate", math.nan, False),
        ("connection_recovery_s", -math.inf, False),
        ("validator_bypasses", math.inf, False),
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
        KPIResult("x", True, "", ">=", 1.0, 1.0, "e")


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
        "sample": None, "vetoed": None,
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


def _suite_file(path: Path, kpi: dict[str, object]) -> Path:
    path.write_text(json.dumps({"suite": "client", "started": T0.isoformat(), "finished": T0.isoformat(),
                                "kpis": [kpi]}))
    return path


def test_a_stored_failed_kpi_stays_failed_whatever_its_value(tmp_path: Path) -> None:
    # vitest failed, yet the file carries a coverage figure above the threshold.
    path = _suite_file(tmp_path / "client.json", {
        "id": "client_coverage", "value": 95.0, "unit": "%", "comparator": ">=", "threshold": 80.0,
        "goal": 90.0, "passed": False, "evidence": "vitest exited 1"})
    kpi = load_suite(path).kpis[0]
    assert not kpi.passed and not kpi.goal_met
    assert kpi.vetoed == VETO_STORED_FAILED
    assert KPIResult.from_dict(kpi.to_dict()).vetoed == VETO_STORED_FAILED  # survives a round trip


def test_a_vetoed_kpi_never_passes_and_says_why() -> None:
    kpi = dataclasses.replace(kpi_from_catalogue("message_delivery_rate", 1.0, "e"), vetoed="duplicates")
    assert not kpi.passed
    assert kpi.to_dict()["vetoed"] == "duplicates" and kpi.to_dict()["passed"] is False


def test_sample_is_written_and_read_back(tmp_path: Path) -> None:
    kpi = kpi_from_catalogue("validator_bypasses", 0, "hypothesis", sample=20_123)
    path = write_suite("property", [kpi], started=T0, finished=T0, out_dir=tmp_path)
    assert json.loads(path.read_text())["kpis"][0]["sample"] == 20_123
    assert load_suite(path).kpis[0].sample == 20_123
    with pytest.raises(TypeError):
        kpi_from_catalogue("validator_bypasses", 0, "e", sample=-1)


def test_infinity_is_kept_in_the_file_and_fails_when_read_back(tmp_path: Path) -> None:
    path = write_suite("chaos", [kpi_from_catalogue("nats_recovery_s", math.inf, "never healed")],
                       started=T0, finished=T0, out_dir=tmp_path)
    kpi = load_suite(path).kpis[0]
    assert kpi.value == math.inf and not kpi.passed and kpi.distance_to_goal is None


def test_every_file_is_stamped_with_run_commit_and_dirty_flag(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_RUN_ID", "run-42")
    path = write_suite("bench", [], started=T0, finished=T0, out_dir=tmp_path)
    run = json.loads(path.read_text())["run"]
    assert run == {"id": "run-42", "commit": head_commit(), "dirty": tree_dirty()}
    assert re.fullmatch(r"[0-9a-f]{40}", run["commit"])
    monkeypatch.delenv("HARNESS_RUN_ID")
    adhoc = load_suite(write_suite("bench", [], started=T0, finished=T0, out_dir=tmp_path)).run
    assert adhoc is not None and re.fullmatch(r"adhoc-\d{8}T\d{6}Z-\d+", adhoc.id)


def test_planned_completed_and_failures_are_stored_and_unioned_on_merge(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_RUN_ID", "run-1")
    write_suite("chaos", [kpi_from_catalogue("message_loss_rate", 0.0, "a")], started=T0, finished=T0,
                out_dir=tmp_path, planned=["nats_partition", "nats_kill"], completed=["nats_partition"],
                failures=["scenario nats_partition: duplicates"])
    write_suite("chaos", [kpi_from_catalogue("dlq_accounted", 1.0, "b")], started=T0, finished=T0,
                out_dir=tmp_path, merge=True, planned=["nats_blackhole"], completed=["nats_blackhole"])
    report = load_suite(tmp_path / "chaos.json")
    assert report.planned == ("nats_partition", "nats_kill", "nats_blackhole")
    assert report.completed == ("nats_partition", "nats_blackhole")
    assert report.missing_scenarios == ("nats_kill",)
    assert report.failures == ("scenario nats_partition: duplicates",)
    assert {k.id for k in report.kpis} == {"message_loss_rate", "dlq_accounted"}


def test_merge_never_keeps_figures_of_another_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_RUN_ID", "old-run")
    write_suite("chaos", [kpi_from_catalogue("message_loss_rate", 0.0, "old")], started=T0, finished=T0,
                out_dir=tmp_path, failures=["old failure"])
    monkeypatch.setenv("HARNESS_RUN_ID", "new-run")
    write_suite("chaos", [kpi_from_catalogue("dlq_accounted", 1.0, "new")], started=T0, finished=T0,
                out_dir=tmp_path, merge=True)
    report = load_suite(tmp_path / "chaos.json")
    assert [k.id for k in report.kpis] == ["dlq_accounted"]
    assert report.failures == () and report.run is not None and report.run.id == "new-run"


def test_files_without_the_new_fields_still_load(tmp_path: Path) -> None:
    path = _suite_file(tmp_path / "client.json", {
        "id": "client_coverage", "value": 95.0, "unit": "%", "comparator": ">=", "threshold": 80.0,
        "goal": 90.0, "evidence": "old writer"})
    report = load_suite(path)
    assert report.run is None and report.planned is None and report.failures == ()
    assert report.kpis[0].passed


@pytest.mark.parametrize("value", [True, "1.0", [1.0]])
def test_a_stored_value_that_is_not_a_number_makes_the_file_unreadable(tmp_path: Path, value: object) -> None:
    path = _suite_file(tmp_path / "client.json", {
        "id": "client_coverage", "value": value, "unit": "%", "comparator": ">=", "threshold": 80.0,
        "goal": 90.0, "evidence": "forged"})
    with pytest.raises(ValueError, match=r"client\.json"):
        load_suite(path)
