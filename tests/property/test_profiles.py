"""Our hypothesis profiles hold under CI=true: Hypothesis's "ci" profile never leaks in."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().with_name("conftest.py")

SHOW = f"""
import json, runpy
runpy.run_path({str(CONFTEST)!r})
from hypothesis import settings
s = settings.default
print(json.dumps({{"max_examples": s.max_examples, "derandomize": s.derandomize,
                  "database": repr(s.database), "deadline": s.deadline, "print_blob": s.print_blob,
                  "phases": [p.name for p in s.phases], "stateful_step_count": s.stateful_step_count}}))
"""


def loaded_profile(profile: str, **env: str) -> dict[str, object]:
    """The settings a property test sees, read in a fresh process (Hypothesis reads CI at import)."""
    environ = {**{k: v for k, v in os.environ.items() if k != "HYPOTHESIS_PROFILE"}, **env,
               "HYPOTHESIS_PROFILE": profile}
    out = subprocess.run([sys.executable, "-c", SHOW], env=environ, capture_output=True, text=True,
                         timeout=60, check=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(("profile", "examples"), [("default", 200), ("full", 5_000)])
def test_ci_true_loads_our_profile_not_hypothesis_ci(profile: str, examples: int) -> None:
    seen = loaded_profile(profile, CI="true")
    assert seen["max_examples"] == examples
    assert seen["derandomize"] is False
    assert "DirectoryBasedExampleDatabase" in str(seen["database"])
    assert ".hypothesis/examples" in str(seen["database"])
    assert seen["deadline"] is None
    assert seen["print_blob"] is True
    assert "shrink" in str(seen["phases"])


def test_an_unknown_profile_is_refused() -> None:
    environ = {**os.environ, "HYPOTHESIS_PROFILE": "ci"}
    result = subprocess.run([sys.executable, "-c", SHOW], env=environ, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode != 0
    assert "HYPOTHESIS_PROFILE='ci'" in result.stderr


@pytest.mark.slow  # subprocess pytest runs: make verify only
def test_the_kpi_sample_is_the_examples_the_test_body_ran(tmp_path: Path) -> None:
    """The property KPI's sample is counted in the test body and equals Hypothesis's own count."""
    target = Path(__file__).with_name("test_config_invalid.py")
    environ = {**{k: v for k, v in os.environ.items() if k not in ("CI", "MYTHOS_STRICT_SKIPS")},
               "HYPOTHESIS_PROFILE": "default"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(target), "--rootdir", str(CONFTEST.parents[2]),
         "-p", "no:cacheprovider", "--hypothesis-show-statistics"],
        cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    ran = sum(int(n) for n in re.findall(r"- (\d+) passing", result.stdout))
    report = json.loads((tmp_path / "reports" / "kpi" / "property.json").read_text(encoding="utf-8"))
    (kpi,) = [k for k in report["kpis"] if k["id"] == "invalid_config_rejected"]
    assert ran > 0
    assert kpi["sample"] == ran
    assert f"{ran:,} examples run" in kpi["evidence"]
