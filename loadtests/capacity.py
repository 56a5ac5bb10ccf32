"""Capacity: compliant players added in steps until the p99 round trip crosses ``capacity_p99_ms``.

Each step spawns more players, waits until they have all tried to connect, lets the load
settle, then measures a window of its own: the p99 and commands/s come from the difference of
Locust's cumulative histograms at the window's ends, so registrations and spawning never blur
a step. Steps are written to ``steps_file`` as they finish; the harness adds the server's RSS.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from locust import LoadTestShape
from locust.stats import calculate_response_time_percentile

from loadtests.players import CompliantPlayer
from loadtests.ws_player import load_config

__all__ = ["CapacityPlayer", "P99StepShape"]

SPAWN_TIMEOUT_S = 60.0


class CapacityPlayer(CompliantPlayer):
    """A compliant player at ``capacity_player_rate`` (below the limit): fewer logins for the same load."""

    abstract = False

    @property
    def player_rate(self) -> float:
        return self.cfg.capacity_player_rate


class P99StepShape(LoadTestShape):
    """spawn -> settle -> measure, step after step; stops itself at the p99 limit, max users or max time.

    A step whose window crosses the limit is measured once more; two windows in a row above it end the ramp.
    """

    def __init__(self) -> None:
        super().__init__()
        self.cfg = load_config()
        self.step = 0
        self.users = self.cfg.capacity_start_users
        self.phase = "spawn"
        self.phase_started = 0.0
        self.snapshot: tuple[Counter[int], int, int, float] | None = None
        self.steps: list[dict[str, Any]] = []
        self.confirming = False

    def _player_totals(self) -> tuple[Counter[int], int, int]:
        assert self.runner is not None
        times: Counter[int] = Counter()
        requests = failures = 0
        for (_name, method), entry in self.runner.stats.entries.items():
            if method == CapacityPlayer.role:
                times.update(entry.response_times)
                requests += entry.num_requests
                failures += entry.num_failures
        return times, requests, failures

    def _connect_attempts(self) -> int:
        assert self.runner is not None
        entry = self.runner.stats.entries.get(("connect", "WS"))
        return entry.num_requests if entry is not None else 0

    def _finish(self, reason: str) -> None:
        self._write(reason)

    def _write(self, stop_reason: str | None) -> None:
        if self.cfg.steps_file:
            Path(self.cfg.steps_file).write_text(json.dumps({"steps": self.steps, "stop_reason": stop_reason,
                                                             "p99_limit_ms": self.cfg.capacity_p99_ms}, indent=2),
                                                 encoding="utf-8")

    def tick(self) -> tuple[int, float] | None:
        now = self.get_run_time()
        if now >= self.cfg.capacity_max_s:
            self._finish("time bound reached")
            return None
        if self.phase == "spawn":
            if self._connect_attempts() >= self.users or now - self.phase_started >= SPAWN_TIMEOUT_S:
                self.phase, self.phase_started = "settle", now
        elif self.phase == "settle" and now - self.phase_started >= self.cfg.capacity_settle_s:
            times, requests, failures = self._player_totals()
            self.snapshot = (times, requests, failures, time.perf_counter())
            self.phase, self.phase_started = "measure", now
        elif self.phase == "measure" and now - self.phase_started >= self.cfg.capacity_measure_s and self._measure():
            return None
        return self.users, self.cfg.capacity_spawn_rate

    def _measure(self) -> bool:
        """Close the step's window; True when the run should stop."""
        assert self.snapshot is not None and self.runner is not None
        old_times, old_requests, old_failures, started = self.snapshot
        times, requests, failures = self._player_totals()
        times.subtract(old_times)
        window = {rt: n for rt, n in times.items() if n > 0}
        count = requests - old_requests
        elapsed = time.perf_counter() - started
        p99 = float(calculate_response_time_percentile(window, count, 0.99)) if count else None
        step: dict[str, Any] = {"step": self.step, "users": self.users, "live_users": self.runner.user_count,
                "commands": count, "commands_per_s": count / elapsed if elapsed > 0 else 0.0,
                "failures": failures - old_failures, "p50_ms": None, "p99_ms": p99,
                "window_s": elapsed}
        if count:
            step["p50_ms"] = float(calculate_response_time_percentile(window, count, 0.5))
        self.steps.append(step)
        if p99 is not None and p99 > self.cfg.capacity_p99_ms and not self.confirming:
            # One window's p99 rests on a handful of samples: a neighbour's CPU burst or a GC pause
            # can push it over. Measure the same step once more before calling it the limit.
            step["note"] = "above the limit: measuring this step again"
            self.confirming = True
            self._write(None)
            self.phase, self.phase_started = "settle", self.get_run_time()
            return False
        if p99 is None or p99 > self.cfg.capacity_p99_ms:
            self._finish(f"p99 above {self.cfg.capacity_p99_ms:g} ms twice" if p99 is not None
                         else "no commands measured")
            return True
        self.confirming = False
        if self.users >= self.cfg.capacity_max_users:
            self._finish("max users reached")
            return True
        self._write(None)
        self.step += 1
        grown = round(self.cfg.capacity_start_users * self.cfg.capacity_growth ** self.step)
        self.users = min(self.cfg.capacity_max_users, max(self.users + 1, grown))
        self.phase, self.phase_started = "spawn", self.get_run_time()
        return False
