"""Strict skips: under CI a skip outside the reviewed allowlist fails the run, an allowlisted one does not.

Each case runs a real pytest in a scratch directory with the plugin enabled the way
scripts/run_suite.sh enables it (``-p harness.pytest_strict_skips``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.pytest_strict_skips import load_allowlist, strict_skips_active

ROOT = Path(__file__).resolve().parents[3]
ALLOWLIST = ROOT / "tests" / "skip_allowlist.toml"

TESTS = '''
import pytest

def test_runs():
    assert True

def test_docker_only():
    pytest.skip("no Docker engine answers on this machine")

def test_needs_a_binary():
    pytest.skip("nats-server binary not found")

@pytest.mark.xfail(reason="known bug")
def test_known_bug():
    assert False

@pytest.mark.slow
def test_slow():
    pytest.skip("never reached: deselected by marker")
'''

ALLOW_DOCKER = '''
[[skip]]
test = "test_sample.py::test_docker_only"
reason = "no Docker engine on these machines"
when = "Docker"
'''


def run_pytest(tmp_path: Path, *args: str, allowlist: str = ALLOW_DOCKER, ci: bool = True,
               tests: str = TESTS) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (tmp_path / "tests").mkdir(exist_ok=True)
    (tmp_path / "tests" / "skip_allowlist.toml").write_text(allowlist, encoding="utf-8")
    (tmp_path / "test_sample.py").write_text(tests, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "MYTHOS_STRICT_SKIPS", "PYTEST_ADDOPTS")}
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "harness.pytest_strict_skips", "-p", "no:cacheprovider",
         "-q", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def test_a_skip_outside_the_allowlist_fails_the_run_under_ci(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "-k", "runs or needs_a_binary")
    assert result.returncode == 1, result.stdout
    assert "test_sample.py::test_needs_a_binary: nats-server binary not found" in result.stdout
    assert "1 passed, 1 skipped" in result.stdout


def test_an_allowlisted_skip_passes_under_ci(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "-k", "runs or docker_only")
    assert result.returncode == 0, result.stdout
    assert "1 skip(s), all on" in result.stdout


@pytest.mark.slow  # subprocess pytest runs: make verify only
def test_an_xfail_outside_the_allowlist_fails_the_run(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "-k", "known_bug")
    assert result.returncode == 1, result.stdout
    assert "XFAIL test_sample.py::test_known_bug: xfail: known bug" in result.stdout


@pytest.mark.slow  # subprocess pytest runs: make verify only
def test_an_allowlisted_test_skipped_for_another_cause_still_fails(tmp_path: Path) -> None:
    tests = TESTS.replace('pytest.skip("no Docker engine answers on this machine")',
                          'pytest.skip("toxiproxy-server not found")')
    result = run_pytest(tmp_path, "-k", "docker_only", tests=tests)
    assert result.returncode == 1, result.stdout
    assert "test_docker_only: toxiproxy-server not found" in result.stdout


@pytest.mark.slow  # subprocess pytest runs: make verify only
def test_a_module_skipped_at_collection_fails_the_run(tmp_path: Path) -> None:
    tests = 'import pytest\npytest.importorskip("a_module_that_is_not_installed")\n\ndef test_x():\n    pass\n'
    result = run_pytest(tmp_path, tests=tests)
    assert result.returncode == 1, result.stdout
    assert "SKIP test_sample.py: could not import 'a_module_that_is_not_installed'" in result.stdout


@pytest.mark.slow  # subprocess pytest runs: make verify only
def test_deselected_tests_are_not_skips(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "-m", "not slow", "-k", "runs or slow")
    assert result.returncode == 0, result.stdout
    assert "1 passed, 4 deselected" in result.stdout


@pytest.mark.slow  # subprocess pytest runs: make verify only
def test_without_ci_the_plugin_stays_out_of_the_way(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "-k", "needs_a_binary", ci=False)
    assert result.returncode == 0, result.stdout


@pytest.mark.slow  # subprocess pytest runs: make verify only
def test_a_failing_run_keeps_its_own_exit_code(tmp_path: Path) -> None:
    tests = TESTS + "\ndef test_fails():\n    assert False\n"
    result = run_pytest(tmp_path, "-k", "fails or needs_a_binary", tests=tests)
    assert result.returncode == 1, result.stdout
    assert "1 failed, 1 skipped" in result.stdout


@pytest.mark.slow  # subprocess pytest runs: make verify only
def test_an_entry_without_a_reason_is_refused(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, allowlist='[[skip]]\ntest = "test_sample.py::test_docker_only"\n')
    assert result.returncode == 4, result.stdout + result.stderr
    assert "needs both 'test' and 'reason'" in result.stderr


@pytest.mark.parametrize(
    ("env", "active"),
    [({"CI": "true"}, True), ({"CI": "TRUE"}, True), ({"MYTHOS_STRICT_SKIPS": "1"}, True),
     ({}, False), ({"CI": "false"}, False), ({"MYTHOS_STRICT_SKIPS": "0"}, False)],
)
def test_when_the_plugin_is_active(env: dict[str, str], active: bool) -> None:
    assert strict_skips_active(env) is active


def test_the_reviewed_allowlist_holds_exactly_the_two_known_skips_with_reasons() -> None:
    entries = load_allowlist(ALLOWLIST)
    assert {e.test for e in entries} == {
        "tests/integration/harness/test_containers.py::test_container_topology_serves_chat_through_toxiproxy",
        "tests/unit/harness/test_kpi.py::test_catalogue_matches_the_shared_kpis_table",
    }
    assert all(len(e.reason) > 40 and e.when for e in entries)
    for entry in entries:  # each entry names a test that exists
        path, name = entry.test.split("::")
        assert re.search(rf"^def {name}\(", (ROOT / path).read_text(encoding="utf-8"), flags=re.M), entry.test


def _chaos_conftest() -> Any:
    spec = importlib.util.spec_from_file_location("chaos_conftest", ROOT / "tests" / "chaos" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_chaos_scenarios_not_asked_for_are_deselected_not_skipped() -> None:
    conftest = _chaos_conftest()
    deselected: list[Any] = []
    hook = SimpleNamespace(pytest_deselected=lambda items: deselected.extend(items))
    config = SimpleNamespace(option=SimpleNamespace(markexpr="not slow"), args=[str(ROOT / "tests" / "unit")],
                             hook=hook)
    chaos_item = SimpleNamespace(path=ROOT / "tests" / "chaos" / "test_scenarios.py", nodeid="chaos")
    unit_item = SimpleNamespace(path=ROOT / "tests" / "unit" / "test_app.py", nodeid="unit")
    items = [chaos_item, unit_item]
    conftest.pytest_collection_modifyitems(config, items)
    assert items == [unit_item]
    assert deselected == [chaos_item]
    assert not getattr(chaos_item, "own_markers", None)


def test_chaos_scenarios_asked_for_by_marker_are_kept() -> None:
    conftest = _chaos_conftest()
    config = SimpleNamespace(option=SimpleNamespace(markexpr="chaos_fast"), args=[],
                             hook=SimpleNamespace(pytest_deselected=lambda items: pytest.fail("deselected")))
    items = [SimpleNamespace(path=ROOT / "tests" / "chaos" / "test_scenarios.py")]
    conftest.pytest_collection_modifyitems(config, items)
    assert len(items) == 1
