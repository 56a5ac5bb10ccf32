"""What a load run is told, and what each simulated player leaves behind. No locust import here.

The harness writes one JSON file (its path in ``MYTHOS_LOAD_CONFIG``) naming the server, the
invite codes it prepared and every rate; the locustfiles read it. Each Locust process appends
one JSON line per simulated player to ``results_file`` when the test stops, so the harness can
count sent / executed / refused commands exactly, across ``--processes`` workers too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

__all__ = ["CONFIG_ENV", "LoadConfig", "NoInviteLeft", "append_records", "claim_invite", "latency_bucket"]

CONFIG_ENV = "MYTHOS_LOAD_CONFIG"


def latency_bucket(ms: float) -> int:
    """Locust's rounding of a response time: exact below 100 ms, then 2 significant digits."""
    if ms < 100:
        return round(ms)
    digits = 10 ** (len(str(round(ms))) - 2)
    return round(ms / digits) * digits


class NoInviteLeft(RuntimeError):
    """The harness prepared fewer invite codes than players were spawned."""


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """Every knob of a run; defaults are the spec's numbers (limit 10/s, attackers 50/s, players 2/s)."""

    host: str
    invites_file: str
    results_file: str
    steps_file: str = ""
    # The server's limit, so a player can compute what the limit allows.
    rate_limit: int = 10
    rate_window_s: float = 1.0
    # Flood.
    attackers: int = 4
    attacker_rate: float = 50.0
    attacker_command: str = "look"
    max_outstanding: int = 200
    players: int = 6
    player_rate: float = 2.0
    chat_share: float = 0.25
    # Alias amplification: an alias of ``alias_size`` commands invoked ``alias_rate`` times a second.
    alias_attackers: int = 4
    alias_size: int = 10
    alias_rate: float = 5.0
    # Chat fan-out: everyone in one room, each saying a line every ``chat_interval_s``.
    chat_players: int = 20
    chat_interval_s: float = 2.0
    chat_lines: int = 5
    chat_gather_s: float = 20.0
    # Capacity: compliant players in steps of x``capacity_growth`` until p99 > ``capacity_p99_ms``.
    capacity_start_users: int = 10
    capacity_growth: float = 1.5
    capacity_player_rate: float = 5.0
    capacity_spawn_rate: float = 10.0
    capacity_settle_s: float = 2.0
    capacity_measure_s: float = 6.0
    capacity_p99_ms: float = 100.0
    capacity_max_users: int = 400
    capacity_max_s: float = 110.0
    # Round trips before this wall-clock time (epoch s) are reported as ``<role>-warmup``:
    # registrations (argon2) of the players still joining are not the flood.
    measure_after_epoch: float = 0.0
    # Patience.
    connect_timeout_s: float = 30.0
    reply_timeout_s: float = 5.0

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> LoadConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown load config keys: {unknown}")
        return cls(**dict(data))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LoadConfig:
        env = os.environ if environ is None else environ
        path = env.get(CONFIG_ENV)
        if not path:
            raise RuntimeError(f"{CONFIG_ENV} is not set: run the locustfiles through `harness load`")
        return cls.from_mapping(json.loads(Path(path).read_text(encoding="utf-8")))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.with_name(path.name + ".lock").open("a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def claim_invite(path: Path) -> str:
    """Take one code from the JSON list at ``path``; a file lock keeps worker processes from sharing one."""
    with _locked(path):
        codes = json.loads(path.read_text(encoding="utf-8") or "[]")
        if not codes:
            raise NoInviteLeft(f"{path} has no invite code left")
        code = str(codes.pop())
        path.write_text(json.dumps(codes), encoding="utf-8")
    return code


def append_records(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    """Append one JSON line per record under the file lock (several processes write one file)."""
    if not records:
        return
    text = "".join(json.dumps(dict(r), separators=(",", ":")) + "\n" for r in records)
    with _locked(path), path.open("a", encoding="utf-8") as handle:
        handle.write(text)
