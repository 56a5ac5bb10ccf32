"""Which run and which commit a KPI file came from, so the gate can refuse stale or foreign files.

Every suite file under ``reports/kpi/`` carries a stamp, written by :func:`current_stamp`::

    "run": {"id": "20260101T120000-1234-ab12", "commit": "<40 hex digits>", "dirty": false}

- ``id``: the run it belongs to. ``HARNESS_RUN_ID`` when set (``harness run begin`` prints one
  and the scripts export it), else ``"adhoc-<UTC timestamp>-<pid>"``, which never matches a run
  manifest, so an ad-hoc file only gates with ``--allow-stale``.
- ``commit``: ``git rev-parse HEAD`` of the repository, or ``"unknown"`` (``null`` is read the
  same way) when git cannot say; an unknown commit never matches HEAD.
- ``dirty``: true when ``git status --porcelain`` lists changes outside ``reports/``; when git
  cannot say, true, so a file never claims a clean tree it could not check.

Writers in other languages (client/scripts/kpi-file.mjs) produce the same three keys.
"""

from __future__ import annotations

import os
import subprocess  # nosec B404 - fixed git argv, no shell
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["REPO_ROOT", "RUN_ID_ENV", "UNKNOWN_COMMIT", "RunStamp", "current_stamp", "head_commit",
           "new_adhoc_id", "run_id", "tree_dirty"]

RUN_ID_ENV = "HARNESS_RUN_ID"
UNKNOWN_COMMIT = "unknown"
REPO_ROOT = Path(__file__).resolve().parents[1]
GIT_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class RunStamp:
    id: str
    commit: str
    dirty: bool

    @property
    def adhoc(self) -> bool:
        return self.id.startswith("adhoc")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "commit": self.commit, "dirty": self.dirty}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunStamp:
        """Read a stamp; a missing commit reads as unknown, a missing dirty flag as dirty."""
        commit = data.get("commit")
        dirty = data.get("dirty")
        return cls(id=str(data["id"]), commit=str(commit) if commit else UNKNOWN_COMMIT,
                   dirty=dirty if isinstance(dirty, bool) else True)


def new_adhoc_id() -> str:
    return f"adhoc-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{os.getpid()}"


def run_id(env: Mapping[str, str] | None = None) -> str:
    """``HARNESS_RUN_ID`` when set and not blank, else a fresh ad-hoc id."""
    value = (os.environ if env is None else env).get(RUN_ID_ENV, "").strip()
    return value or new_adhoc_id()


def _git(args: list[str], repo: Path) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,  # nosec B603 B607
                              timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def head_commit(repo: Path = REPO_ROOT) -> str:
    """HEAD's sha, or ``"unknown"`` outside a git checkout."""
    out = _git(["rev-parse", "HEAD"], repo)
    return out.strip() if out and out.strip() else UNKNOWN_COMMIT


def tree_dirty(repo: Path = REPO_ROOT) -> bool:
    """Uncommitted changes outside reports/ (which is output, not source); unknown counts as dirty."""
    out = _git(["status", "--porcelain", "--", ".", ":(exclude)reports"], repo)
    return True if out is None else bool(out.strip())


def current_stamp(repo: Path = REPO_ROOT, env: Mapping[str, str] | None = None) -> RunStamp:
    """The stamp for a file written now."""
    return RunStamp(id=run_id(env), commit=head_commit(repo), dirty=tree_dirty(repo))
