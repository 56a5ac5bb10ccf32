"""scripts/verify.sh and scripts/run_suite.sh fail closed.

Each script runs for real, copied into a scratch tree whose collaborators are small stand-ins
that log their arguments: ``scripts/setup.sh``, ``scripts/run_suite.sh`` (for verify.sh) and
``.venv/bin/harness`` / ``.venv/bin/python`` (for run_suite.sh). The verify-time KPI is written
by the real ``harness.quality`` through the real Python.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ALL_SUITES = ["lint", "core", "client", "bench", "chaos", "cluster", "load", "abuse", "e2e", "selftest"]

FAKE_RUN_SUITE = """#!/usr/bin/env bash
echo "suite $* strict=${MYTHOS_STRICT_SKIPS:-} run=${HARNESS_RUN_ID:-}" >> calls.log
if [ "$1" = "${FAKE_KILL_LANE:-}" ]; then kill -9 "$PPID"; exit 0; fi  # the lane dies before its .rc
for pair in ${FAKE_FAILING:-}; do
  if [ "${pair%%=*}" = "$1" ]; then exit "${pair#*=}"; fi
done
exit 0
"""

FAKE_HARNESS = """#!/usr/bin/env bash
echo "harness $*" >> calls.log
case "$1 ${2:-}" in
  "run begin") [ -n "${FAKE_BEGIN_FAILS:-}" ] && exit 1; echo "preparing"; echo "run-7" ;;
  "gate ") exit "${FAKE_GATE_RC:-0}" ;;
esac
exit 0
"""

FAKE_PYTHON = f"""#!/usr/bin/env bash
echo "python $*" >> calls.log
if [ "$1 $2" = "-m pytest" ]; then
  case "$*" in *"${{FAKE_PYTEST_FAIL_ON:-@none@}}"*) exit 1 ;; esac
  exit "${{FAKE_PYTEST_RC:-0}}"
fi
if [ "$1 $2 $3" = "-m harness.quality verify-time" ]; then exec {shlex.quote(sys.executable)} "$@"; fi
exit 0
"""


def _script(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(stat.S_IRWXU)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A scratch checkout: the real verify.sh beside stand-ins that log what they were asked."""
    _script(tmp_path / "scripts" / "verify.sh", (ROOT / "scripts" / "verify.sh").read_text(encoding="utf-8"))
    _script(tmp_path / "scripts" / "setup.sh", 'echo "setup" >> calls.log\nexit "${FAKE_SETUP_RC:-0}"\n')
    _script(tmp_path / "scripts" / "run_suite.sh", FAKE_RUN_SUITE)
    _script(tmp_path / ".venv" / "bin" / "harness", FAKE_HARNESS)
    _script(tmp_path / ".venv" / "bin" / "python", FAKE_PYTHON)
    (tmp_path / "reports" / "kpi").mkdir(parents=True)
    (tmp_path / "reports" / "kpi" / "chaos.json").write_text("{}", encoding="utf-8")  # from an old run
    return tmp_path


def verify(tree: Path, **env: str) -> tuple[int, str, list[str]]:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("VERIFY_SUITES", "HARNESS_RUN_ID", "MYTHOS_STRICT_SKIPS")}
    result = subprocess.run(["bash", "scripts/verify.sh"], cwd=tree, env={**environ, **env},
                            capture_output=True, text=True, timeout=120, check=False)
    calls = (tree / "calls.log").read_text(encoding="utf-8").splitlines()
    return result.returncode, result.stdout + result.stderr, calls


def test_all_suites_and_the_gate_pass_exit_0(tree: Path) -> None:
    rc, out, calls = verify(tree)
    assert rc == 0, out
    assert calls[0] == "setup"
    assert calls[1] == f"harness run begin --full --suites {','.join(ALL_SUITES)}"
    ran = [c.split()[1] for c in calls if c.startswith("suite ")]
    assert sorted(ran) == sorted(ALL_SUITES)
    # Phases one after another: lint, client and selftest beside core; bench alone; chaos beside
    # cluster; then load, abuse and e2e, each alone.
    assert set(ran[:4]) == {"core", "lint", "client", "selftest"}, ran
    assert ran[4] == "bench" and set(ran[5:7]) == {"chaos", "cluster"}, ran
    assert ran[7:] == ["load", "abuse", "e2e"], ran
    assert "suite core --full strict=1 run=run-7" in calls
    assert "suite lint strict=1 run=run-7" in calls
    for suite in ALL_SUITES:
        assert f"harness run record {suite} --exit-code 0" in calls
    assert calls[-2:] == ["harness report", "harness gate"]
    assert not (tree / "reports" / "kpi" / "chaos.json").exists()
    written = json.loads((tree / "reports" / "kpi" / "verify.json").read_text(encoding="utf-8"))
    (kpi,) = written["kpis"]
    assert kpi["id"] == "make_verify_minutes"
    assert 0 <= kpi["value"] < 2
    assert "setup" in kpi["evidence"]


def test_failed_suites_make_the_run_fail_and_are_named_after_the_report(tree: Path) -> None:
    rc, out, calls = verify(tree, FAKE_FAILING="client=1 chaos=1")
    assert rc == 1
    assert "suites that failed: client (exit 1), chaos (exit 1)" in out
    assert sorted(c.split()[1] for c in calls if c.startswith("suite ")) == sorted(ALL_SUITES)  # the rest ran
    assert "harness run record client --exit-code 1" in calls
    assert "harness run record chaos --exit-code 1" in calls
    assert "harness run record e2e --exit-code 0" in calls
    assert calls[-2:] == ["harness report", "harness gate"]  # report still written, gate passed


@pytest.mark.parametrize("code", [1, 2, 5])
def test_any_non_zero_suite_exit_fails_even_when_the_gate_passes(tree: Path, code: int) -> None:
    rc, out, _ = verify(tree, FAKE_FAILING=f"e2e={code}")
    assert rc == 1
    assert f"suites that failed: e2e (exit {code})" in out
    assert "release gate failed" not in out


def test_a_lane_that_died_is_a_failure_even_beside_an_old_passing_outcome(tree: Path) -> None:
    """A lane killed before it wrote its outcome must not be read as the previous run's pass."""
    logs = tree / "reports" / "logs"
    logs.mkdir(parents=True)
    (logs / "client.rc").write_text("0 5\n", encoding="utf-8")  # from an earlier run
    rc, out, calls = verify(tree, FAKE_KILL_LANE="client")
    assert rc == 1
    assert "client (exit 1)" in out
    assert "harness run record client --exit-code 1" in calls


def test_a_failing_gate_fails_the_run(tree: Path) -> None:
    rc, out, _ = verify(tree, FAKE_GATE_RC="1")
    assert rc == 1
    assert "release gate failed (exit 1)" in out
    assert "suites that failed" not in out


def test_failing_setup_runs_nothing(tree: Path) -> None:
    rc, out, calls = verify(tree, FAKE_SETUP_RC="3")
    assert rc == 1
    assert "setup failed" in out
    assert calls == ["setup"]


def test_no_run_no_suites(tree: Path) -> None:
    rc, out, calls = verify(tree, FAKE_BEGIN_FAILS="1")
    assert rc == 1
    assert "'harness run begin' failed" in out
    assert not any(c.startswith("suite ") for c in calls)


def test_a_partial_run_records_only_its_suites_and_measures_no_verify_time(tree: Path) -> None:
    rc, out, calls = verify(tree, VERIFY_SUITES="lint client", FAKE_FAILING="client=1")
    assert rc == 1
    assert "suites that failed: client (exit 1)" in out
    assert "harness run begin --full --suites lint,client" in calls
    assert [c.split()[1] for c in calls if c.startswith("suite ")] == ["lint", "client"]
    (kpi,) = json.loads((tree / "reports" / "kpi" / "verify.json").read_text(encoding="utf-8"))["kpis"]
    assert kpi["value"] is None
    assert "partial run (VERIFY_SUITES=lint client)" in kpi["evidence"]


# scripts/run_suite.sh ----------------------------------------------------------------------


@pytest.fixture
def suite_tree(tmp_path: Path) -> Path:
    """The real run_suite.sh with a stand-in Python that logs its arguments."""
    _script(tmp_path / "scripts" / "run_suite.sh", (ROOT / "scripts" / "run_suite.sh").read_text(encoding="utf-8"))
    _script(tmp_path / ".venv" / "bin" / "python", FAKE_PYTHON)
    kpi = tmp_path / "reports" / "kpi"
    kpi.mkdir(parents=True)
    for name in ("unit", "property", "chaos", "abuse", "lint", "client"):
        (kpi / f"{name}.json").write_text("{}", encoding="utf-8")  # from an old run
    return tmp_path


def run_suite(tree: Path, *args: str, **env: str) -> tuple[int, str, list[str]]:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHON_BIN", "HYPOTHESIS_PROFILE")}
    result = subprocess.run(["bash", "scripts/run_suite.sh", *args], cwd=tree, env={**environ, **env},
                            capture_output=True, text=True, timeout=60, check=False)
    log = tree / "calls.log"
    calls = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return result.returncode, result.stdout + result.stderr, calls


def test_no_tests_collected_fails_the_suite(suite_tree: Path) -> None:
    rc, out, _ = run_suite(suite_tree, "chaos", FAKE_PYTEST_RC="5")
    assert rc == 5
    assert "no tests collected: a suite that runs nothing fails" in out


@pytest.mark.parametrize("suite", ["core", "chaos", "load", "e2e", "abuse", "unit"])
def test_every_pytest_run_loads_the_strict_skips_plugin(suite_tree: Path, suite: str) -> None:
    rc, out, calls = run_suite(suite_tree, suite)
    assert rc == 0, out
    pytest_calls = [c for c in calls if c.startswith("python -m pytest")]
    assert pytest_calls
    assert all("-p harness.pytest_strict_skips" in c for c in pytest_calls)


def test_each_suite_removes_its_own_old_kpi_files_first(suite_tree: Path) -> None:
    kpi = suite_tree / "reports" / "kpi"
    run_suite(suite_tree, "core")
    assert not (kpi / "unit.json").exists()
    assert not (kpi / "property.json").exists()
    assert (kpi / "chaos.json").exists()  # another suite's file is left alone
    run_suite(suite_tree, "chaos")
    assert not (kpi / "chaos.json").exists()
    assert (kpi / "abuse.json").exists()


@pytest.mark.parametrize(("full", "lanes"), [
    ((), {"a": "tests/unit -m not slow", "b": "tests/property tests/integration -m not slow"}),
    (("--full",), {"a": "tests/unit -m  ", "b": "tests/property -m  ", "c": "tests/integration -m  "}),
])
def test_core_runs_lanes_with_their_own_junit_and_coverage_files(
        suite_tree: Path, full: tuple[str, ...], lanes: dict[str, str]) -> None:
    rc, out, calls = run_suite(suite_tree, "core", *full)
    assert rc == 0, out
    pytest_calls = [c for c in calls if c.startswith("python -m pytest")]
    assert len(pytest_calls) == len(lanes)
    for lane, args in lanes.items():
        assert any(f"--junitxml=reports/junit/core-{lane}.xml {args}" in c for c in pytest_calls), pytest_calls
    assert "python -m harness.quality coverage --out reports/kpi/unit.json" in calls


@pytest.mark.parametrize(("full", "broken", "named"), [
    ((), "tests/unit", "lane a (tests/unit) exit 1, lane b (tests/property tests/integration) exit 0"),
    ((), "tests/property", "lane a (tests/unit) exit 0, lane b (tests/property tests/integration) exit 1"),
    (("--full",), "tests/integration",
     "lane a (tests/unit) exit 0, lane b (tests/property) exit 0, lane c (tests/integration) exit 1"),
])
def test_core_fails_when_any_lane_fails_and_still_writes_coverage(
        suite_tree: Path, full: tuple[str, ...], broken: str, named: str) -> None:
    rc, out, calls = run_suite(suite_tree, "core", *full, FAKE_PYTEST_FAIL_ON=broken)
    assert rc == 1
    assert f"[core] failed: {named}" in out
    assert "python -m harness.quality coverage --out reports/kpi/unit.json" in calls


def test_abuse_runs_the_short_subset_by_default_and_everything_with_full(suite_tree: Path) -> None:
    _, _, calls = run_suite(suite_tree, "abuse")
    assert any("tests/abuse -m abuse and not slow" in c for c in calls)
    _, _, calls = run_suite(suite_tree, "abuse", "--full")
    assert any(c.endswith("tests/abuse -m abuse -p no:cacheprovider -q") for c in calls)
    assert not (suite_tree / "reports" / "kpi" / "abuse.json").exists()


def test_selftest_runs_the_harness_selftest(suite_tree: Path) -> None:
    rc, _, calls = run_suite(suite_tree, "selftest")
    assert rc == 0
    assert "python -m harness.cli selftest" in calls
