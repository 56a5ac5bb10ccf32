"""What an attack is given and what it hands back: the shared types of the abuse suite."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Account", "AttackContext", "AttackOutcome", "Budget", "Progress"]

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Budget:
    """An attack stops at whichever comes first: ``seconds`` of wall time or ``count`` requests."""

    seconds: float
    count: int

    def __post_init__(self) -> None:
        if self.seconds <= 0 or self.count <= 0:
            raise ValueError(f"an attack budget is positive and finite: {self}")


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    password: str
    token: str = ""
    session_id: str = ""


@dataclass
class AttackOutcome:
    """One attack's figures. ``refusals`` counts the refused commands and logins it caused:
    the lines the audit log is there to record, and the denominator of audit bytes per refusal."""

    figures: dict[str, Any] = field(default_factory=dict)
    refusals: int = 0
    failures: list[str] = field(default_factory=list)
    samples: dict[str, list[float]] = field(default_factory=dict)
    """Raw samples behind a KPI (e.g. legit login round trips in ms)."""


@dataclass
class AttackContext:
    """The live server and the accounts the attacks play with; built once per run."""

    base_url: str
    server_pid: int
    admin_password: str
    mallory: Account
    """Floods over WebSocket and opens the slow event streams (same session: nothing is evicted)."""
    eve: Account
    """Says the Unicode lines (a clean rate budget: never used by another attack)."""
    victim: Account
    """A player whose password is brute-forced; never logged in by the attack."""
    compliant: list[Account]
    """The compliant players' accounts (for legit logins under a flood)."""
    take_invite: Callable[[], str]
    connections: Callable[[], Awaitable[int | None]]
    """The server's live connection count from /api/health (None when it did not answer)."""
    heard: Callable[[str, float], Awaitable[bool]]
    """Wait up to the given seconds until a compliant player received chat containing the text."""
    out_dir: Path
    progress: Progress
