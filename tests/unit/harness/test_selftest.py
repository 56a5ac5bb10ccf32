"""harness selftest: seeded faults run in scratch copies, judged caught / missed / broken / baseline red.

A tiny fake tree (a git repository in tmp_path) carries one fault its test catches, one it misses,
one whose snippet is absent, one whose snippet occurs twice, one whose suite is red without it
and one that hangs; the verdicts are asserted and the tree is hashed before and after. The real
tree proves that a run imports the scratch copy and not the venv's editable install.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.kpi import load_suite
from harness.selftest.faults import AREAS, FAULTS
from harness.selftest.runner import (
    REPO_ROOT,
    Fault,
    Verdict,
    _judge_vitest,
    copy_tree,
    patch_problem,
    pytest_check,
    run_check,
    run_selftest,
    tree_files,
    write_kpi,
)

OPS = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def fake_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git work tree: package calc, a test of add only, a test that always fails, ignored litter."""
    repo = tmp_path / "repo"
    (repo / "calc").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "calc" / "__init__.py").write_text("")
    (repo / "calc" / "ops.py").write_text(OPS)
    (repo / "tests" / "test_ops.py").write_text("from calc.ops import add\n\n\ndef test_add():\n"
                                                "    assert add(2, 3) == 5\n")
    (repo / "tests" / "test_red.py").write_text("def test_red():\n    assert False\n")
    (repo / ".gitignore").write_text("litter/\n")
    (repo / "litter").mkdir()
    (repo / "litter" / "ignored.txt").write_text("not part of the tree")
    _git(repo, "init", "-q")
    _git(repo, "add", "calc", "tests/test_ops.py", ".gitignore")  # test_red.py stays untracked
    # The fake tree's runs need none of the venv's pytest plugins; loading them only costs time.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    return repo


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.relative_to(root).parts}


def _fault(id_: str, old: str, new: str, target: str = "tests/test_ops.py", timeout_s: float = 60.0) -> Fault:
    return Fault(id_, "checker", id_, "calc/ops.py", old, new, pytest_check(target), timeout_s)


def test_tree_files_lists_tracked_and_untracked_but_not_ignored(fake_tree: Path) -> None:
    (fake_tree / "calc" / "__init__.py").unlink()  # tracked, deleted in the work tree
    assert sorted(tree_files(fake_tree)) == [".gitignore", "calc/ops.py", "tests/test_ops.py", "tests/test_red.py"]


def test_patch_problem_names_absent_repeated_and_empty_patches() -> None:
    assert patch_problem(_fault("ok", "return a + b", "return a - b"), OPS) is None
    assert "not found" in (patch_problem(_fault("absent", "return a * b", "x"), OPS) or "")
    assert "found 2 times" in (patch_problem(_fault("twice", "return a", "return 0"), OPS) or "")
    assert "the same" in (patch_problem(_fault("same", "return a + b", "return a + b"), OPS) or "")
    assert "does not exist" in (patch_problem(_fault("gone", "a", "b"), None) or "")


def test_verdicts_on_a_fake_tree_and_the_tree_is_untouched(fake_tree: Path, tmp_path: Path) -> None:
    faults = [
        _fault("caught", "return a + b", "return a * b"),
        _fault("missed", "return a - b", "return b - a"),
        _fault("absent", "return a ** b", "return a"),
        _fault("twice", "return a", "return 0"),
        _fault("baseline_red", "return a + b", "return a * b", target="tests/test_red.py"),
        _fault("hangs", "return a + b", "__import__('time').sleep(120)", timeout_s=3.0),
    ]
    before = _digest(fake_tree)
    lines: list[str] = []
    result = run_selftest(faults, root=fake_tree, jobs=2, log_dir=tmp_path / "logs", progress=lines.append)
    assert _digest(fake_tree) == before, "the selftest wrote into the working tree"

    verdicts = {r.fault.id: r.verdict for r in result.results}
    assert verdicts == {"caught": Verdict.CAUGHT, "missed": Verdict.MISSED, "absent": Verdict.BROKEN,
                        "twice": Verdict.BROKEN, "baseline_red": Verdict.BASELINE_RED, "hangs": Verdict.ERROR}
    details = {r.fault.id: r.detail for r in result.results}
    assert "test_add" in details["caught"]
    assert "a test is missing" in details["missed"]
    assert details["absent"].startswith("patch does not apply")
    assert "timed out" in details["hangs"]
    assert "test_red" in details["baseline_red"]
    assert result.caught == 1 and result.total == 6 and not result.passed
    assert sum(1 for line in lines if line.startswith("[")) == 6, lines
    assert (tmp_path / "logs" / "caught.log").read_text().count("FAILED") >= 1

    kpi_dir = tmp_path / "kpi"
    report = load_suite(write_kpi(result, kpi_dir))
    (kpi,) = report.kpis
    assert kpi.id == "seeded_faults_caught" and kpi.value == pytest.approx(1 / 6) and kpi.sample == 6
    assert not kpi.passed
    assert report.planned == tuple(f.id for f in faults)
    assert report.completed == ("caught", "missed")
    assert [f.split(":")[0] for f in report.failures] == ["missed", "absent", "twice", "baseline_red", "hangs"]


def test_every_caught_fault_is_needed_for_a_passing_kpi(fake_tree: Path, tmp_path: Path) -> None:
    result = run_selftest([_fault("caught", "return a + b", "return a * b")], root=fake_tree, jobs=1)
    assert result.passed
    report = load_suite(write_kpi(result, tmp_path))
    assert report.kpis[0].value == 1.0 and report.kpis[0].passed and report.failures == ()


def test_a_run_imports_the_scratch_copy_not_the_editable_install(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # no plugin imports mythos; they only cost time
    target = "selftest_probe_target.py"
    body = "import mythos.commands.rate_limiter\n\n\ndef test_imported():\n    pass\n"
    modules = ["mythos", "mythos.commands.rate_limiter"]
    # The venv's editable install really does serve the working tree to a plain interpreter ...
    plain = subprocess.run([sys.executable, "-c", "import mythos; print(mythos.__file__)"], cwd=tmp_path,
                           env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
                           capture_output=True, text=True, check=True, timeout=60)
    assert Path(plain.stdout.strip()).resolve().is_relative_to(REPO_ROOT)

    # ... but a selftest run in a full scratch copy imports the copy.
    tree = copy_tree(REPO_ROOT, tree_files(REPO_ROOT), tmp_path / "full" / "tree")
    (tree / target).write_text(body)
    outcome = run_check(pytest_check(target), tree, modules=modules, timeout_s=120)
    assert outcome.problem is None and outcome.green, outcome
    probe = json.loads((tree.parent / "import-probe.json").read_text())
    for name in modules:
        assert Path(probe["modules"][name]).resolve().is_relative_to(tree.resolve()), probe

    # A copy without mythos/ falls through to the editable install: the probe refuses that run.
    bare = tmp_path / "bare" / "tree"
    bare.mkdir(parents=True)
    (bare / target).write_text(body)
    refused = run_check(pytest_check(target), bare, modules=modules, timeout_s=120)
    assert refused.problem is not None and "outside the scratch copy" in refused.problem, refused
    assert not refused.red and not refused.green


def test_vitest_reports_are_judged_on_failed_tests_and_where_they_ran(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    report = tmp_path / "report.json"

    def judge(code: int, files: list[str], statuses: list[str]) -> tuple[str | None, str]:
        report.write_text(json.dumps({
            "numTotalTests": len(statuses), "numPassedTests": statuses.count("passed"),
            "numFailedTests": statuses.count("failed"),
            "testResults": [{"name": f, "assertionResults": [{"fullName": f"t{i}", "status": s}
                                                             for i, s in enumerate(statuses)]} for f in files]}))
        return _judge_vitest(code, report, tree)

    inside = [str(tree / "client" / "tests" / "a.test.ts")]
    assert judge(1, inside, ["passed", "failed"]) == (None, "failed: t1")
    assert judge(0, inside, ["passed"])[0] is None
    assert "no tests" in (judge(1, inside, [])[0] or "")
    assert "outside the scratch copy" in (judge(1, ["/elsewhere/a.test.ts"], ["failed"])[0] or "")
    assert "without a failed test" in (judge(1, inside, ["passed"])[0] or "")
    report.unlink()
    assert "without its JSON report" in (_judge_vitest(1, report, tree)[0] or "")


# --- the catalogue itself


def test_the_catalogue_covers_every_area_with_unique_narrow_checks() -> None:
    assert len(FAULTS) >= 15
    ids = [f.id for f in FAULTS]
    assert len(set(ids)) == len(ids)
    assert {f.area for f in FAULTS} == set(AREAS)
    assert {f.file.split("/")[0] for f in FAULTS} >= {"mythos", "client", "harness"}
    for fault in FAULTS:
        path = fault.check.target.split("::")[0]
        base = REPO_ROOT / "client" if fault.check.runner == "vitest" else REPO_ROOT
        assert (base / path).is_file(), f"{fault.id}: {fault.check} names no file"


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.id)
def test_every_seeded_fault_still_applies_to_the_code(fault: Fault) -> None:
    # A refactor that moves a snippet breaks its fault: rewrite the fault against the new code.
    path = REPO_ROOT / fault.file
    assert patch_problem(fault, path.read_text(encoding="utf-8") if path.exists() else None) is None
