"""A pytest plugin that records where the modules under test were imported from.

The venv holds an editable install of this repository, so a test run in a scratch copy could
silently import the unpatched working tree and "miss" every seeded fault (or, worse, pass a
fault it never saw). ``harness selftest`` loads this plugin (``-p
harness.selftest.import_probe``) and names the modules to check in
``MYTHOS_SELFTEST_MODULES``; when the session ends the plugin writes, to the JSON file named by
``MYTHOS_SELFTEST_PROBE``, each module's ``__file__`` (or why it could not be imported) and the
head of ``sys.path``. The runner then refuses any run whose modules came from outside the
scratch copy. Without ``MYTHOS_SELFTEST_PROBE`` the plugin does nothing.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["MODULES_ENV", "PROBE_ENV", "imported_from", "pytest_sessionfinish"]

PROBE_ENV = "MYTHOS_SELFTEST_PROBE"
MODULES_ENV = "MYTHOS_SELFTEST_MODULES"
_SYS_PATH_HEAD = 8


def imported_from(names: list[str]) -> dict[str, str]:
    """``{module: its __file__}`` for each name, importing it if the tests did not (same cache).

    A module that cannot be imported maps to ``"error: ..."``, so the runner sees it as foreign.
    """
    out: dict[str, str] = {}
    for name in names:
        try:
            module = sys.modules.get(name) or importlib.import_module(name)
        except Exception as exc:  # any import failure is reported, never raised
            out[name] = f"error: {type(exc).__name__}: {exc}"
            continue
        out[name] = str(getattr(module, "__file__", None) or "error: module has no __file__")
    return out


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    """Write the probe file after the tests ran: it shows the modules they actually used."""
    target = os.environ.get(PROBE_ENV)
    if not target:
        return
    names = [n for n in os.environ.get(MODULES_ENV, "").split(",") if n]
    record = {"modules": imported_from(names), "sys_path": sys.path[:_SYS_PATH_HEAD], "exitstatus": int(exitstatus)}
    Path(target).write_text(json.dumps(record, indent=2), encoding="utf-8")
