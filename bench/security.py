"""Command-security benchmarks: the alias safety check, the rate-limit check and their memory.

Run with ``python -m bench.security``. Each figure is measured next to a baseline written the
naive way in the same run (the alias graph rebuilt with networkx for every check; a list of
timestamps filtered on every rate-limit check; a networkx graph cached per player), and the
ratio ours / baseline goes into the KPI's evidence. Writes alias_check_us, rate_limit_check_us,
rate_limiter_memory_kib_per_1000 and alias_graph_memory_kib_per_1000 into
reports/kpi/bench.json, merged by KPI id with what other benchmarks wrote there.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.kpi import DEFAULT_OUT_DIR, KPIResult, kpi_from_catalogue, write_suite
from mythos.commands.alias_graph import AliasBoundsCache, AliasGraph, AliasLimits
from mythos.commands.aliases import AliasStorage
from mythos.commands.rate_limiter import CommandRateLimiter

PLAYERS = 1000
ALIASES_FOR_CHECK = 50
ALIASES_FOR_MEMORY = 10


def per_op_us(func: Callable[[int], Any], ops: int, repeats: int = 5) -> float:
    """Median over ``repeats`` of the mean time per call, in microseconds (``func(i)`` is one call)."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        for i in range(ops):
            func(i)
        samples.append((time.perf_counter_ns() - started) / ops / 1000)
    return statistics.median(samples)


def traced_kib(build: Callable[[], Any]) -> float:
    """KiB still allocated by ``build()``'s result, measured with tracemalloc."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return (after - before) / 1024


# -- alias fixtures --------------------------------------------------------------------------------


def alias_bodies(count: int) -> dict[str, str]:
    """A realistic mix: plain shortcuts, arguments, chains and a fan-out, all safe."""
    bodies: dict[str, str] = {}
    for i in range(count):
        kind = i % 5
        if kind == 0 or i < 5:
            bodies[f"al{i}"] = f"say greeting number {i} to $*"
        elif kind == 1:
            bodies[f"al{i}"] = f"al{i - 1} $1; emote nods"
        elif kind == 2:
            bodies[f"al{i}"] = f"go north; look; al{i - 2} $2"
        elif kind == 3:
            bodies[f"al{i}"] = f"al{i - 3}; al{i - 3}"
        else:
            bodies[f"al{i}"] = "whisper $1 meet me at the library; go south"
    return bodies


def storage_with(players: list[str], bodies: dict[str, str]) -> AliasStorage:
    storage = AliasStorage()

    async def fill() -> None:
        for player in players:
            for name, body in bodies.items():
                await storage.set_alias(player, name, body)

    asyncio.run(fill())
    return storage


# -- measurements ----------------------------------------------------------------------------------


def bench_alias_check() -> tuple[float, float]:
    bodies = alias_bodies(ALIASES_FOR_CHECK)
    names = list(bodies)
    storage = storage_with(["ann"], bodies)
    cache = AliasBoundsCache(storage, AliasLimits())
    cache.check("ann", names[0])
    assert all(cache.check("ann", n, 12).ok for n in names), "the benchmark aliases must be safe"

    def cached(i: int) -> None:
        cache.check("ann", names[i % ALIASES_FOR_CHECK], 12)

    def naive(i: int) -> None:
        graph = AliasGraph(storage, AliasLimits())
        graph.build_graph("ann")
        graph.is_safe_to_expand(names[i % ALIASES_FOR_CHECK], 12)

    ours = per_op_us(cached, 20_000)
    baseline = per_op_us(naive, 200)
    assert cache.builds == 1, "the cached check must never rebuild"
    return ours, baseline


class NaiveLimiter:
    """The naive way: keep every timestamp, filter the list on every check."""

    def __init__(self, max_commands: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_commands, self.window, self.clock = max_commands, window, clock
        self.times: dict[str, list[float]] = {}

    def is_allowed(self, player: str) -> bool:
        now = self.clock()
        recent = [t for t in self.times.get(player, []) if now - t < self.window]
        self.times[player] = recent
        if len(recent) >= self.max_commands:
            return False
        recent.append(now)
        return True


class StepClock:
    """Advances 50 us per reading: each of 1000 players tries 20 commands/s against a limit of 10/s,
    so about half the checks accept and half refuse, as in a flood."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 50e-6
        return self.now


def bench_rate_limit() -> tuple[float, float]:
    players = [f"player{i}" for i in range(PLAYERS)]
    limiter = CommandRateLimiter(10, 1.0, clock=StepClock())
    naive = NaiveLimiter(10, 1.0, clock=StepClock())
    ours = per_op_us(lambda i: limiter.is_allowed(players[i % PLAYERS]), 200_000)
    baseline = per_op_us(lambda i: naive.is_allowed(players[i % PLAYERS]), 200_000)
    return ours, baseline


def bench_rate_limiter_memory() -> tuple[float, float]:
    players = [f"player{i}" for i in range(PLAYERS)]

    def ours() -> CommandRateLimiter:
        limiter = CommandRateLimiter(10, 3600.0)  # nobody goes idle while we measure
        for player in players:
            limiter.try_acquire(player, 10)  # a full window: the most a player can hold
        return limiter

    def naive() -> NaiveLimiter:
        limiter = NaiveLimiter(10, 3600.0)
        for player in players:
            for _ in range(10):
                limiter.is_allowed(player)
        return limiter

    return traced_kib(ours), traced_kib(naive)


def bench_alias_graph_memory() -> tuple[float, float]:
    players = [f"player{i}" for i in range(PLAYERS)]
    storage = storage_with(players, alias_bodies(ALIASES_FOR_MEMORY))
    names = list(alias_bodies(ALIASES_FOR_MEMORY))

    def ours() -> AliasBoundsCache:
        cache = AliasBoundsCache(storage, AliasLimits())
        for player in players:
            cache.check(player, names[-1])
        return cache

    def naive() -> dict[str, AliasGraph]:
        graphs = {}
        for player in players:
            graph = AliasGraph(storage, AliasLimits())
            graph.build_graph(player)
            graphs[player] = graph
        return graphs

    return traced_kib(ours), traced_kib(naive)


def _ratio(ours: float, baseline: float) -> str:
    return f"ratio {ours / baseline:.4f} of the baseline ({baseline / ours:.1f}x better)"


def run() -> list[KPIResult]:
    check_us, check_base = bench_alias_check()
    rate_us, rate_base = bench_rate_limit()
    rate_kib, rate_kib_base = bench_rate_limiter_memory()
    graph_kib, graph_kib_base = bench_alias_graph_memory()
    python = f"Python {sys.version.split()[0]}"
    return [
        kpi_from_catalogue(
            "alias_check_us",
            check_us,
            f"bench/security.py: AliasBoundsCache.check, {ALIASES_FOR_CHECK} aliases, cached; baseline "
            f"(networkx graph rebuilt per check) {check_base:.1f} us; "
            f"{_ratio(check_us, check_base)}; {python}",
        ),
        kpi_from_catalogue(
            "rate_limit_check_us",
            rate_us,
            f"bench/security.py: CommandRateLimiter.is_allowed, {PLAYERS} players at twice the limit "
            f"(half accepted); baseline (timestamp "
            f"list filtered per check) {rate_base:.2f} us; {_ratio(rate_us, rate_base)}; {python}",
        ),
        kpi_from_catalogue(
            "rate_limiter_memory_kib_per_1000",
            rate_kib,
            f"bench/security.py: tracemalloc, {PLAYERS} players each with a full window of 10; baseline "
            f"(dict of timestamp lists) {rate_kib_base:.0f} KiB; {_ratio(rate_kib, rate_kib_base)}",
        ),
        kpi_from_catalogue(
            "alias_graph_memory_kib_per_1000",
            graph_kib,
            f"bench/security.py: tracemalloc, cached bounds of {PLAYERS} players with {ALIASES_FOR_MEMORY} "
            f"aliases each; baseline (a networkx graph cached per player) {graph_kib_base:.0f} KiB; "
            f"{_ratio(graph_kib, graph_kib_base)}",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    args = parser.parse_args(argv)
    started = datetime.now(UTC)
    kpis = run()
    path = write_suite("bench", kpis, started=started, finished=datetime.now(UTC), out_dir=args.out_dir, merge=True)
    for kpi in kpis:
        status = "ok" if kpi.passed else "FAILED"
        goal = "goal met" if kpi.goal_met else f"goal {kpi.goal:g}"
        print(f"{kpi.id:36} {kpi.value:10.2f} {kpi.unit:4} {status:6} {goal}\n    {kpi.evidence}")
    print(f"written to {path}")
    return 0 if all(k.passed for k in kpis) else 1


if __name__ == "__main__":
    raise SystemExit(main())
