"""The run manifest, ``reports/kpi/run.json``: which suites a run meant to run and how each ended.

``harness run begin --suites lint,core,...`` creates it and prints the run id (the scripts
export it as ``HARNESS_RUN_ID`` so every KPI file carries it); ``harness run record SUITE
--exit-code N`` records one suite's outcome. The gate fails when the manifest is missing, a
listed suite has no outcome or a non-zero exit code, or a KPI file belongs to another run::

    {"id": "...", "commit": "<sha>", "dirty": false, "started": "<iso>", "full": false,
     "suites": ["lint", "core"], "outcomes": {"lint": {"exit_code": 0, "note": null, "finished": "<iso>"}}}
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.files import atomic_write, locked
from harness.run_stamp import RUN_ID_ENV, current_stamp
from harness.services.process import new_run_id

__all__ = ["MANIFEST_NAME", "Outcome", "RunManifest", "begin_run", "load_manifest", "manifest_path",
           "record_outcome"]

MANIFEST_NAME = "run.json"


@dataclass(frozen=True, slots=True)
class Outcome:
    exit_code: int
    note: str | None = None
    finished: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"exit_code": self.exit_code, "note": self.note, "finished": self.finished}


@dataclass(frozen=True, slots=True)
class RunManifest:
    id: str
    commit: str
    dirty: bool
    started: str
    suites: tuple[str, ...]
    full: bool = False
    outcomes: Mapping[str, Outcome] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "commit": self.commit, "dirty": self.dirty, "started": self.started,
                "full": self.full, "suites": list(self.suites),
                "outcomes": {name: o.to_dict() for name, o in self.outcomes.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunManifest:
        """Parse strictly: a manifest the gate cannot read fully is no manifest."""
        suites = data["suites"]
        outcomes = data.get("outcomes") or {}
        if not isinstance(suites, list) or not all(isinstance(s, str) for s in suites):
            raise ValueError("suites must be a list of names")
        if not isinstance(outcomes, Mapping):
            raise ValueError("outcomes must be an object")
        parsed = {}
        for name, outcome in outcomes.items():
            code = outcome["exit_code"]
            if isinstance(code, bool) or not isinstance(code, int):
                raise ValueError(f"outcome of {name}: exit_code must be an integer, got {code!r}")
            parsed[str(name)] = Outcome(code, outcome.get("note"), outcome.get("finished"))
        return cls(id=str(data["id"]), commit=str(data.get("commit") or "unknown"),
                   dirty=bool(data.get("dirty", True)), started=str(data["started"]),
                   suites=tuple(suites), full=data.get("full") is True, outcomes=parsed)


def manifest_path(reports: Path) -> Path:
    return reports / "kpi" / MANIFEST_NAME


def load_manifest(reports: Path) -> RunManifest:
    """The run's manifest; ValueError names the file when it is missing or unreadable."""
    path = manifest_path(reports)
    try:
        return RunManifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise ValueError(f"{path} does not exist (no `harness run begin` for this run)") from exc
    except (OSError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path} is unreadable: {exc!r}") from exc


def _locked(reports: Path) -> contextlib.AbstractContextManager[None]:
    return locked(reports / "kpi" / ".run.lock")


def _write(path: Path, manifest: RunManifest) -> None:
    atomic_write(path, json.dumps(manifest.to_dict(), indent=2) + "\n")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def begin_run(reports: Path, suites: Sequence[str], *, full: bool = False,
              env: Mapping[str, str] | None = None) -> RunManifest:
    """Start a run: a fresh manifest with no outcomes (any earlier one is replaced)."""
    names = tuple(dict.fromkeys(s.strip() for s in suites if s.strip()))
    if not names:
        raise ValueError("a run needs at least one suite")
    env = os.environ if env is None else env
    run_id = env.get(RUN_ID_ENV, "").strip() or f"run-{new_run_id()}"
    stamp = current_stamp(env={RUN_ID_ENV: run_id})
    manifest = RunManifest(id=run_id, commit=stamp.commit, dirty=stamp.dirty, started=_now(),
                           suites=names, full=full)
    with _locked(reports):
        _write(manifest_path(reports), manifest)
    return manifest


def record_outcome(reports: Path, suite: str, exit_code: int, note: str | None = None,
                   env: Mapping[str, str] | None = None) -> RunManifest:
    """Record how one suite ended; refused when the manifest belongs to another run."""
    env = os.environ if env is None else env
    with _locked(reports):
        manifest = load_manifest(reports)
        expected = env.get(RUN_ID_ENV, "").strip()
        if expected and expected != manifest.id:
            raise ValueError(f"{manifest_path(reports)} is run {manifest.id!r}, not {RUN_ID_ENV}={expected!r}")
        outcomes = {**manifest.outcomes, suite: Outcome(exit_code, note, _now())}
        updated = RunManifest(manifest.id, manifest.commit, manifest.dirty, manifest.started, manifest.suites,
                              manifest.full, outcomes)
        _write(manifest_path(reports), updated)
    return updated
