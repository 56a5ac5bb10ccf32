"""Strict skips: under CI a skipped or xfailed test outside a reviewed allowlist fails the run.

A skip is silent by design, which is why a missing binary once turned whole suites green. With
``CI=true`` or ``MYTHOS_STRICT_SKIPS=1`` this plugin collects every skip and xfail (of a test or
of a whole module at collection) and, when any of them is not on the allowlist
(``tests/skip_allowlist.toml``), sets the session's exit code to 1 and lists each with its
reason. Tests deselected by marker are not skips and are not reported.

Enable it with ``-p harness.pytest_strict_skips`` (scripts/run_suite.sh does, for every suite).
An allowlist entry names a test id, why its skip is acceptable, and optionally ``when``: a piece
of the skip message that must appear, so an allowlisted test skipped for another cause still fails.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["AllowedSkip", "Skip", "StrictSkips", "load_allowlist", "strict_skips_active"]

ALLOWLIST_INI = "strict_skips_allowlist"
DEFAULT_ALLOWLIST = "tests/skip_allowlist.toml"
STRICT_ENV = "MYTHOS_STRICT_SKIPS"


@dataclass(frozen=True, slots=True)
class AllowedSkip:
    """One reviewed entry: the test, why its skip is acceptable, and the skip message it expects."""

    test: str
    reason: str
    when: str = ""

    def covers(self, nodeid: str, message: str) -> bool:
        base = nodeid.split("[", 1)[0]
        return self.test in (nodeid, base) and self.when in message


@dataclass(frozen=True, slots=True)
class Skip:
    """A skip or xfail that happened in this run."""

    nodeid: str
    kind: str
    message: str


def strict_skips_active(environ: dict[str, str] | os._Environ[str] | None = None) -> bool:
    """On under CI (``CI=true``, as CI services set it) or ``MYTHOS_STRICT_SKIPS=1`` (make verify)."""
    env = os.environ if environ is None else environ
    return env.get("CI", "").strip().lower() in ("true", "1") or env.get(STRICT_ENV, "").strip() == "1"


def load_allowlist(path: Path) -> list[AllowedSkip]:
    """Read the allowlist; a malformed file or an entry without a reason is an error naming it."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise pytest.UsageError(f"strict skips: allowlist {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise pytest.UsageError(f"strict skips: {path} is not valid TOML ({exc})") from exc
    entries = []
    for index, raw in enumerate(data.get("skip", [])):
        test, reason = str(raw.get("test", "")).strip(), str(raw.get("reason", "")).strip()
        if not test or not reason:
            raise pytest.UsageError(f"strict skips: {path} entry {index + 1} needs both 'test' and 'reason'")
        entries.append(AllowedSkip(test, reason, str(raw.get("when", ""))))
    return entries


def _message(report: pytest.TestReport | pytest.CollectReport) -> str:
    wasxfail = getattr(report, "wasxfail", None)
    if wasxfail is not None:
        return f"xfail: {wasxfail}" if wasxfail else "xfail"
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: reason")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


class StrictSkips:
    """Collects this run's skips and fails the session on any that the allowlist does not cover."""

    def __init__(self, allowlist: list[AllowedSkip], source: Path) -> None:
        self.allowlist = allowlist
        self.source = source
        self.skips: list[Skip] = []

    def _record(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        if report.skipped:
            kind = "xfail" if getattr(report, "wasxfail", None) is not None else "skip"
            self.skips.append(Skip(report.nodeid, kind, _message(report)))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._record(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._record(report)

    def unreviewed(self) -> list[Skip]:
        return [s for s in self.skips if not any(a.covers(s.nodeid, s.message) for a in self.allowlist)]

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.unreviewed() and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        bad = self.unreviewed()
        allowed = len(self.skips) - len(bad)
        if not bad:
            if allowed:
                terminalreporter.write_line(f"strict skips: {allowed} skip(s), all on {self.source}")
            return
        terminalreporter.section("skips outside the reviewed allowlist", sep="=", red=True, bold=True)
        for skip in bad:
            terminalreporter.write_line(f"{skip.kind.upper()} {skip.nodeid}: {skip.message}")
        terminalreporter.write_line(
            f"strict skips: {len(bad)} skip(s) not on {self.source} fail this run (CI=true or "
            f"{STRICT_ENV}=1). Install what is missing, or add a reviewed entry with its reason.",
            red=True,
        )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(ALLOWLIST_INI, "reviewed skips (TOML), relative to the rootdir", default=DEFAULT_ALLOWLIST)


def pytest_configure(config: pytest.Config) -> None:
    if not strict_skips_active():
        return
    relative = Path(str(config.getini(ALLOWLIST_INI)))
    config.pluginmanager.register(StrictSkips(load_allowlist(config.rootpath / relative), relative), "strict-skips")
