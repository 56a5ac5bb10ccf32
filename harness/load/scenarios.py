"""The load scenarios: which locustfile, how many players, how long (full and ``--short``).

``negative_control`` is the flood again against a server whose limit is raised far above the
attackers' rate: ``dos_blocked_ratio`` must fail there, or the figure cannot tell a missing
limiter from a working one. Its figures never become the suite's KPIs; a control whose KPI
passes is a failure of the whole load suite.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CONTROL_RATE_LIMIT", "NEGATIVE_CONTROL", "RATE_LIMIT", "RATE_WINDOW_S", "SCENARIOS", "LoadScenario"]

# The limit the server is started with, and which the figures measure against.
RATE_LIMIT = 10
RATE_WINDOW_S = 1.0
CONTROL_RATE_LIMIT = 1000
"""The negative control's server limit: far above the attackers' 50 commands/s."""
NEGATIVE_CONTROL = "negative_control"


@dataclass(frozen=True, slots=True)
class LoadScenario:
    """A locustfile plus the config it runs with (full and short); ``shape`` runs stop themselves."""

    name: str
    locustfile: str
    description: str
    full: Mapping[str, Any]
    short: Mapping[str, Any]
    run_s: float
    short_run_s: float
    shape: bool = False
    warmup_s: float = 0.0
    short_warmup_s: float = 0.0
    server_env: Mapping[str, str] | None = None
    """Server variables over the harness's own (the negative control's raised limit)."""
    control_of: str | None = None
    """The scenario whose figures this one computes and whose KPI it must make fail."""

    @property
    def kind(self) -> str:
        """Which figures apply: the scenario's own, or those of the scenario it controls."""
        return self.control_of or self.name

    def settings(self, short: bool) -> dict[str, Any]:
        return dict(self.short if short else self.full)

    def users(self, settings: Mapping[str, Any]) -> int:
        keys = {"flood": ("attackers", "players"), "alias_amplification": ("alias_attackers",),
                "chat_fanout": ("chat_players",), "capacity": ("capacity_max_users",)}[self.kind]
        return sum(int(settings[k]) for k in keys)


SCENARIOS: Mapping[str, LoadScenario] = {
    s.name: s
    for s in (
        LoadScenario("flood", "loadtests/flood.py", "attackers at 50 cmd/s vs a 10/s limit, compliant players at 2/s",
                     full={"attackers": 10, "players": 20}, short={"attackers": 4, "players": 6},
                     run_s=40.0, short_run_s=16.0, warmup_s=8.0, short_warmup_s=6.0),
        LoadScenario("alias_amplification", "loadtests/alias_amplification.py",
                     "aliases of 10 commands fired in a loop; executed commands must stay at the limit",
                     full={"alias_attackers": 6, "alias_rate": 5.0}, short={"alias_attackers": 3, "alias_rate": 5.0},
                     run_s=25.0, short_run_s=15.0),
        LoadScenario("chat_fanout", "loadtests/chat_fanout.py", "many players in one room, each saying lines",
                     full={"chat_players": 40, "chat_lines": 8, "chat_interval_s": 2.0},
                     short={"chat_players": 15, "chat_lines": 4, "chat_interval_s": 2.0},
                     run_s=45.0, short_run_s=25.0),
        LoadScenario("capacity", "loadtests/capacity.py", "compliant players in steps until p99 > 100 ms",
                     full={"capacity_start_users": 10, "capacity_growth": 1.5, "capacity_max_users": 400},
                     short={"capacity_start_users": 5, "capacity_growth": 2.0, "capacity_max_users": 40,
                            "capacity_measure_s": 4.0},
                     run_s=115.0, short_run_s=30.0, shape=True),
        LoadScenario(NEGATIVE_CONTROL, "loadtests/flood.py",
                     f"the short flood against a limit of {CONTROL_RATE_LIMIT}/s: dos_blocked_ratio must fail",
                     full={"attackers": 4, "players": 6}, short={"attackers": 4, "players": 6},
                     run_s=16.0, short_run_s=16.0, warmup_s=6.0, short_warmup_s=6.0,
                     server_env={"RATE_LIMIT_MAX_COMMANDS": str(CONTROL_RATE_LIMIT)}, control_of="flood"),
    )
}
