"""Where a run puts its files: ``reports/runs/<run>/`` for data, ``reports/logs/<run>/`` for logs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.services.process import new_run_id

__all__ = ["DEFAULT_REPORTS", "RunPaths"]

DEFAULT_REPORTS = Path("reports")


@dataclass(frozen=True, slots=True)
class RunPaths:
    run_id: str
    reports: Path = DEFAULT_REPORTS

    @classmethod
    def new(cls, label: str = "", reports: Path = DEFAULT_REPORTS) -> RunPaths:
        return cls(f"{new_run_id()}-{label}" if label else new_run_id(), reports)

    @property
    def run_dir(self) -> Path:
        return self.reports / "runs" / self.run_id

    @property
    def log_dir(self) -> Path:
        return self.reports / "logs" / self.run_id

    @property
    def history(self) -> Path:
        return self.run_dir / "history.jsonl"

    @property
    def dlq(self) -> Path:
        return self.run_dir / "dlq.json"

    @property
    def results(self) -> Path:
        return self.run_dir / "results.json"

    def create(self) -> RunPaths:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self
