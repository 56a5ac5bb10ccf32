"""Apply seeded faults in scratch copies of the tree and check that their named suite goes red.

For each fault (:class:`Fault`: a file, an exact ``old`` snippet, its ``new`` replacement and the
narrow :class:`Check` that must fail):

1. The patch is checked first: ``old`` must occur exactly once in the file and differ from
   ``new``. Otherwise the fault is **broken** ("patch does not apply"), never caught: a snippet
   that vanished under a refactor is a selftest failure, so it is noticed and rewritten.
2. Each named check runs once on an *unpatched* scratch copy. It must pass there, or the fault
   proves nothing: **baseline red**.
3. The patch is applied in a fresh scratch copy and the check runs again: red is **caught**,
   green is **missed** (a test is missing: add it). A run that timed out, collected nothing,
   ended without a test verdict (pytest's usage or collection errors) or imported the modules
   under test from outside the scratch copy is an **error**.

A scratch copy holds the files ``git ls-files`` lists (tracked and untracked-but-not-ignored,
as they are in the working tree); ``client/node_modules`` is linked entry by entry, so Vite's
cache (``node_modules/.vite``) is written in the scratch copy, not in the working tree. Python
checks run with cwd and ``PYTHONPATH`` set to the scratch copy, and
:mod:`harness.selftest.import_probe` proves, from inside the pytest process, that the patched
module came from there and not from the venv's editable install. Every run has a hard timeout
and is killed with its whole process group when it overstays. The working tree is only read.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import shutil
import signal
import subprocess  # nosec B404 - fixed argv lists, no shell
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal

import structlog

from harness.selftest.import_probe import MODULES_ENV, PROBE_ENV

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MAX_JOBS",
    "REPO_ROOT",
    "Check",
    "Fault",
    "FaultResult",
    "RunOutcome",
    "SelftestResult",
    "Verdict",
    "copy_tree",
    "patch_problem",
    "pytest_check",
    "run_check",
    "run_selftest",
    "scratch_copy",
    "tree_files",
    "vitest_check",
    "write_kpi",
]

log = structlog.get_logger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TIMEOUT_S = 120.0
"""Hard limit of one run; narrow suites take seconds, so this only stops a hang."""
MAX_JOBS = 2
"""Runs at a time: the machine has two cores, shared with whatever else runs."""
GIT_TIMEOUT_S = 30.0
_TAIL_LINES = 40
_DETAIL_CHARS = 200
# Environment that would change what a narrow run measures or where it writes.
_SCRUBBED_ENV = ("PYTEST_ADDOPTS", "COVERAGE_PROCESS_START", "COVERAGE_PROCESS_CONFIG", "COVERAGE_FILE",
                 "MYTHOS_FULL_RUN", "HARNESS_RUN_ID", "MYTHOS_SUITE_STARTED", "PYTHONPATH")
# Vite and vitest write their caches here: those stay in the scratch copy.
_NODE_CACHE_DIRS = frozenset({".vite", ".vite-temp", ".vitest", ".cache"})

Runner = Literal["pytest", "vitest"]
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Check:
    """The one narrow suite a fault must turn red.

    ``target`` is a pytest file or node id relative to the repository root, or a vitest test
    file relative to ``client/``.
    """

    runner: Runner
    target: str

    def __str__(self) -> str:
        return f"{self.runner} {self.target}"


def pytest_check(target: str) -> Check:
    return Check("pytest", target)


def vitest_check(target: str) -> Check:
    return Check("vitest", target)


@dataclass(frozen=True, slots=True)
class Fault:
    """A seeded fault: replace the one occurrence of ``old`` in ``file`` by ``new``; ``check`` must fail."""

    id: str
    area: str
    description: str
    file: str
    old: str
    new: str
    check: Check
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def module(self) -> str | None:
        """The dotted module of a Python file (``mythos/a/b.py`` -> ``mythos.a.b``), else None."""
        path = Path(self.file)
        if path.suffix != ".py":
            return None
        parts = list(path.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        return ".".join(parts)

    @property
    def probed_modules(self) -> tuple[str, ...]:
        """The modules the import probe must find in the scratch copy: the patched one and its package."""
        module = self.module
        if module is None:
            return ()
        top = module.split(".")[0]
        return tuple(dict.fromkeys((top, module)))


class Verdict(StrEnum):
    CAUGHT = "caught"
    MISSED = "missed"
    BROKEN = "broken"
    BASELINE_RED = "baseline red"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """One run of a check. ``red``/``green`` only when the run reached a test verdict."""

    check: Check
    returncode: int | None
    seconds: float
    problem: str | None
    """Why this run proves nothing (timeout, no tests, no test verdict, foreign imports); None when it does."""
    detail: str
    """The first failing test when red, the closing summary otherwise."""
    log: Path | None = None

    @property
    def red(self) -> bool:
        return self.problem is None and self.returncode not in (0, None)

    @property
    def green(self) -> bool:
        return self.problem is None and self.returncode == 0


@dataclass(frozen=True, slots=True)
class FaultResult:
    fault: Fault
    verdict: Verdict
    detail: str
    seconds: float
    log: Path | None = None

    @property
    def completed(self) -> bool:
        """The fault ran to a caught/missed verdict."""
        return self.verdict in (Verdict.CAUGHT, Verdict.MISSED)


@dataclass(frozen=True, slots=True)
class SelftestResult:
    results: tuple[FaultResult, ...]
    baselines: tuple[RunOutcome, ...]
    started: datetime
    finished: datetime

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def caught(self) -> int:
        return sum(1 for r in self.results if r.verdict is Verdict.CAUGHT)

    @property
    def passed(self) -> bool:
        return self.total > 0 and self.caught == self.total

    @property
    def wall_s(self) -> float:
        return (self.finished - self.started).total_seconds()

    def failures(self) -> list[str]:
        return [f"{r.fault.id}: {r.verdict} ({r.detail})" for r in self.results if r.verdict is not Verdict.CAUGHT]


# -- the scratch copy ------------------------------------------------------------------------


def tree_files(root: Path) -> list[str]:
    """The files of the working tree as git sees them: tracked plus untracked-but-not-ignored.

    Deleted-but-tracked paths are left out; a file's content is the working tree's, edits included.
    """
    listing = subprocess.run(  # nosec B603 B607 - fixed argv
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, check=True, timeout=GIT_TIMEOUT_S,
    ).stdout.decode("utf-8", "surrogateescape")
    names = dict.fromkeys(n for n in listing.split("\0") if n)
    return [n for n in names if (root / n).is_file() or (root / n).is_symlink()]


def copy_tree(root: Path, files: Sequence[str], dest: Path) -> Path:
    """Copy ``files`` of ``root`` into ``dest`` and link ``client/node_modules`` entry by entry."""
    for name in files:
        source, target = root / name, dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    modules = root / "client" / "node_modules"
    if modules.is_dir():
        linked = dest / "client" / "node_modules"
        linked.mkdir(parents=True, exist_ok=True)
        for entry in modules.iterdir():
            if entry.name not in _NODE_CACHE_DIRS:
                (linked / entry.name).symlink_to(entry)
    return dest


@contextlib.contextmanager
def scratch_copy(root: Path, files: Sequence[str], label: str, parent: Path | None = None) -> Iterator[Path]:
    """A fresh scratch copy of the tree (``<tmp>/tree``), removed afterwards with its directory."""
    base = Path(tempfile.mkdtemp(prefix=f"mythos-selftest-{label}-", dir=parent))
    try:
        yield copy_tree(root, files, base / "tree")
    finally:
        shutil.rmtree(base, ignore_errors=True)


class _Slots:
    """One scratch directory per concurrent run, re-copied from the working tree before each run.

    The paths stay the same from run to run, so the private bytecode cache of one slot's
    unchanged files stays valid (``copy2`` keeps each source's mtime), and only the patched file
    is compiled again: :func:`apply_fault` gives it an mtime no other version of it has had.
    """

    def __init__(self, work: Path, count: int) -> None:
        self._free: queue.SimpleQueue[Path] = queue.SimpleQueue()
        for n in range(count):
            self._free.put(work / f"slot-{n}")

    @contextlib.contextmanager
    def tree(self, root: Path, files: Sequence[str]) -> Iterator[Path]:
        slot = self._free.get()
        try:
            shutil.rmtree(slot, ignore_errors=True)
            slot.mkdir(parents=True)
            yield copy_tree(root, files, slot / "tree")
        finally:
            self._free.put(slot)


def patch_problem(fault: Fault, text: str | None) -> str | None:
    """Why ``fault`` cannot be applied to a file whose content is ``text`` (None: file missing)."""
    if text is None:
        return f"patch does not apply: {fault.file} does not exist"
    if fault.old == fault.new:
        return "patch does not apply: old and new are the same"
    count = text.count(fault.old)
    if count != 1:
        where = "not found" if count == 0 else f"found {count} times"
        return f"patch does not apply: the old snippet is {where} in {fault.file}"
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


_patch_serial = itertools.count(1)


def apply_fault(fault: Fault, tree: Path) -> None:
    """Patch ``tree`` (a scratch copy); raises ValueError when the patch does not apply.

    The patched file gets an mtime that no other version of it had in this process (a day and a
    serial number before the original's), so no cached bytecode of another version matches it.
    """
    path = tree / fault.file
    text = _read(path)
    problem = patch_problem(fault, text)
    if problem is not None:
        raise ValueError(problem)
    assert text is not None
    original = path.stat().st_mtime
    path.write_text(text.replace(fault.old, fault.new, 1), encoding="utf-8")
    stamp = original - 86_400 - next(_patch_serial)
    os.utime(path, (stamp, stamp))


# -- one run ---------------------------------------------------------------------------------


def _env(tree: Path, probe: Path, modules: Sequence[str], pycache: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env.update({"PYTHONPATH": str(tree), "HYPOTHESIS_PROFILE": "default", PROBE_ENV: str(probe),
                MODULES_ENV: ",".join(modules)})
    if pycache is not None:
        # Bytecode and pytest's rewritten modules (all of hypothesis, as a plugin's distribution)
        # go to a private cache shared by this selftest's runs, never beside the sources: without
        # it every run recompiles them, which costs more than the narrow tests themselves.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _argv(check: Check, tree: Path, report: Path) -> tuple[list[str], Path]:
    if check.runner == "pytest":
        return ([sys.executable, "-m", "pytest", check.target, "-x", "-q", "--no-header", "-p", "no:cacheprovider",
                 "-p", "harness.selftest.import_probe"], tree)
    client = tree / "client"
    return ([str(client / "node_modules" / ".bin" / "vitest"), "run", check.target, "--coverage.enabled=false",
             "--reporter=default", "--reporter=json", f"--outputFile.json={report}"], client)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _tail(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return lines[-_TAIL_LINES:]


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 3] + "..."


def _foreign(modules: dict[str, str], tree: Path) -> list[str]:
    root = tree.resolve()
    out = []
    for name, file in modules.items():
        if file.startswith("error:") or not Path(file).resolve().is_relative_to(root):
            out.append(f"{name} from {file}")
    return out


def _judge_pytest(code: int, probe: Path, modules: Sequence[str], tree: Path,
                  lines: list[str]) -> tuple[str | None, str]:
    failed = [ln for ln in lines if ln.startswith(("FAILED ", "ERROR "))]
    summary = next((ln for ln in reversed(lines) if ln.strip()), "")
    detail = _clip(failed[0] if failed else summary)
    if code not in (0, 1):
        meaning = {2: "interrupted (collection or usage error)", 3: "internal error", 4: "usage error",
                   5: "no tests collected"}.get(code, "no test verdict")
        return f"pytest exited {code}: {meaning}", detail
    if modules:
        try:
            record = json.loads(probe.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return "the import probe wrote nothing: cannot tell which code ran", detail
        foreign = _foreign(record.get("modules", {}), tree)
        missing = [m for m in modules if m not in record.get("modules", {})]
        if foreign or missing:
            return f"imported from outside the scratch copy: {'; '.join(foreign + missing)}", detail
    return None, detail


def _judge_vitest(code: int, report: Path, tree: Path) -> tuple[str | None, str]:
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return f"vitest exited {code} without its JSON report", ""
    files = [str(r.get("name", "")) for r in data.get("testResults", [])]
    failed = [a.get("fullName", "") for r in data.get("testResults", []) for a in r.get("assertionResults", [])
              if a.get("status") == "failed"]
    detail = _clip(f"failed: {failed[0]}" if failed
                   else f"{data.get('numPassedTests', 0)} passed, {data.get('numFailedTests', 0)} failed")
    if not data.get("numTotalTests"):
        return "vitest ran no tests", detail
    outside = [f for f in files if not Path(f).resolve().is_relative_to(tree.resolve())]
    if outside or not files:
        return f"test files from outside the scratch copy: {outside or 'none reported'}", detail
    if code == 0 and failed:
        return "vitest exited 0 with failed tests", detail
    if code != 0 and not failed:
        return f"vitest exited {code} without a failed test (unhandled error or failed file)", detail
    return None, detail


def run_check(check: Check, tree: Path, *, modules: Sequence[str] = (), timeout_s: float = DEFAULT_TIMEOUT_S,
              log_path: Path | None = None, pycache: Path | None = None) -> RunOutcome:
    """Run ``check`` in the scratch copy ``tree`` with a hard timeout and judge what the run proves.

    ``pycache``: a private directory for bytecode (``PYTHONPYCACHEPREFIX``); None writes none.
    """
    work = tree.parent
    probe, report = work / "import-probe.json", work / "vitest-report.json"
    for stale in (probe, report):
        stale.unlink(missing_ok=True)
    output = log_path or work / "run.log"
    output.parent.mkdir(parents=True, exist_ok=True)
    argv, cwd = _argv(check, tree, report)
    started = time.monotonic()
    with output.open("wb") as sink:
        sink.write(f"$ (cd {cwd} && {' '.join(argv)})\n".encode())
        sink.flush()
        proc = subprocess.Popen(argv, cwd=cwd, env=_env(tree, probe, modules, pycache), stdout=sink,  # nosec B603
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            code: int | None = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait()
            code = None
        _kill_group(proc)  # whatever the run started and left behind
    seconds = time.monotonic() - started
    lines = _tail(output)
    if code is None:
        log.warning("selftest_run_timed_out", check=str(check), timeout_s=timeout_s)
        problem: str | None = f"timed out after {timeout_s:g} s (killed)"
        detail = _clip(lines[-1] if lines else "")
    elif check.runner == "pytest":
        problem, detail = _judge_pytest(code, probe, modules, tree, lines)
    else:
        problem, detail = _judge_vitest(code, report, tree)
    return RunOutcome(check, code, seconds, problem, detail, log_path)


# -- the whole selftest ----------------------------------------------------------------------


def _log_name(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)[:120]


def _verdict(fault: Fault, baseline: RunOutcome, patched: RunOutcome) -> tuple[Verdict, str]:
    if baseline.problem is not None:
        return Verdict.BASELINE_RED, f"unpatched run proves nothing: {baseline.problem}"
    if not baseline.green:
        return Verdict.BASELINE_RED, f"fails without the patch: {baseline.detail}"
    if patched.problem is not None:
        return Verdict.ERROR, patched.problem
    if patched.red:
        return Verdict.CAUGHT, patched.detail
    return Verdict.MISSED, f"{fault.check} stayed green ({patched.detail}): a test is missing"


def run_selftest(
    faults: Sequence[Fault],
    *,
    root: Path = REPO_ROOT,
    jobs: int = MAX_JOBS,
    log_dir: Path | None = None,
    progress: Progress = lambda line: None,
) -> SelftestResult:
    """Judge every fault; ``jobs`` runs at a time (at most :data:`MAX_JOBS`). Only reads ``root``."""
    if not 1 <= jobs <= MAX_JOBS:
        raise ValueError(f"jobs must be 1..{MAX_JOBS}")
    ids = [f.id for f in faults]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate fault ids: {duplicates}")
    started = datetime.now(UTC)
    files = tree_files(root)
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        for old in log_dir.glob("*.log"):
            old.unlink()
    broken = {f.id: problem for f in faults if (problem := patch_problem(f, _read(root / f.file))) is not None}
    runnable = [f for f in faults if f.id not in broken]
    checks: dict[Check, list[str]] = {}
    for fault in runnable:
        checks.setdefault(fault.check, [])
        checks[fault.check].extend(m for m in fault.probed_modules if m not in checks[fault.check])
    timeouts = {c: max(f.timeout_s for f in runnable if f.check == c) for c in checks}

    def log_path(name: str) -> Path | None:
        return None if log_dir is None else log_dir / f"{_log_name(name)}.log"

    with tempfile.TemporaryDirectory(prefix="mythos-selftest-") as work_dir:
        work = Path(work_dir)
        pycache = work / "pycache"
        slots = _Slots(work, jobs)

        def baseline(check: Check) -> RunOutcome:
            with slots.tree(root, files) as tree:
                outcome = run_check(check, tree, modules=checks[check], timeout_s=timeouts[check],
                                    log_path=log_path(f"baseline-{check.target}"), pycache=pycache)
            state = "green" if outcome.green else f"RED ({outcome.problem or outcome.detail})"
            progress(f"baseline {state:6} {check} ({outcome.seconds:.1f} s)")
            return outcome

        lock = threading.Lock()
        done: list[int] = [0]

        def one(fault: Fault) -> FaultResult:
            # Submitted after every baseline, so its baseline is already running or done: no deadlock.
            base = None if fault.id in broken else baselines[fault.check].result()
            if base is None:
                result = FaultResult(fault, Verdict.BROKEN, broken[fault.id], 0.0)
            elif not base.green:
                verdict, detail = _verdict(fault, base, base)
                result = FaultResult(fault, verdict, detail, 0.0)
            else:
                with slots.tree(root, files) as tree:
                    apply_fault(fault, tree)
                    patched = run_check(fault.check, tree, modules=fault.probed_modules, timeout_s=fault.timeout_s,
                                        log_path=log_path(fault.id), pycache=pycache)
                verdict, detail = _verdict(fault, base, patched)
                result = FaultResult(fault, verdict, detail, patched.seconds, patched.log)
            with lock:
                done[0] += 1
                width = len(str(len(faults)))
                progress(f"[{done[0]:>{width}}/{len(faults)}] {result.verdict.upper():12} {fault.id:34} "
                         f"{fault.check} ({result.seconds:.1f} s): {result.detail}")
            return result

        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="selftest") as pool:
            # Patched runs start as soon as a worker is free (the queue is first in, first out).
            baselines = {check: pool.submit(baseline, check) for check in checks}
            results = tuple(pool.map(one, faults))
    return SelftestResult(results, tuple(f.result() for f in baselines.values()), started, datetime.now(UTC))


def write_kpi(result: SelftestResult, out_dir: Path) -> Path:
    """``<out_dir>/selftest.json``: ``seeded_faults_caught`` = caught / total, every fault planned.

    A fault that did not reach caught/missed (broken, baseline red, error) is not completed,
    so the gate names it; every fault not caught is a failure, which vetoes the KPI.
    """
    from harness.kpi import kpi_from_catalogue, write_suite

    missed = [r.fault.id for r in result.results if r.verdict is not Verdict.CAUGHT]
    evidence = (f"{result.caught} of {result.total} seeded faults turned their suite red "
                f"(harness/selftest/faults.py, {result.wall_s:.0f} s)")
    if missed:
        evidence += f"; not caught: {', '.join(missed)}"
    value = result.caught / result.total if result.total else None
    kpi = kpi_from_catalogue("seeded_faults_caught", value, evidence, sample=result.total)
    return write_suite("selftest", [kpi], started=result.started, finished=result.finished, out_dir=out_dir,
                       planned=[r.fault.id for r in result.results],
                       completed=[r.fault.id for r in result.results if r.completed],
                       failures=result.failures())
