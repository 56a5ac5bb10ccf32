"""The one-world workloads by name: an explicit table, so nothing registers itself on import.

A scenario names its workloads (``ChaosTest.workloads``); they run one after another beside the
chat workload, from the first steady state to their own end (:func:`run_workloads`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import structlog

from harness.cluster.aliases import alias_propagation
from harness.cluster.context import Workload, WorkloadContext
from harness.cluster.logins import sequential_eviction, split_login
from harness.cluster.ops import W
from harness.cluster.rate import rate_switch
from harness.cluster.rooms import walkers

__all__ = ["WORKLOADS", "run_workloads"]

log = structlog.get_logger(__name__)

WORKLOADS: Mapping[str, Workload] = {
    "split_login": split_login,
    "sequential_eviction": sequential_eviction,
    "alias_propagation": alias_propagation,
    "rate_switch": rate_switch,
    "walkers": walkers,
}


async def run_workloads(names: Sequence[str], ctx: WorkloadContext) -> None:
    """Run the named workloads in order. One that raises is recorded (``workload_error``, which its
    checker refuses) and the next still runs."""
    for name in names:
        started = ctx.history.now()
        try:
            await WORKLOADS[name](ctx)
        except Exception as exc:  # recorded for the checker; the other workloads still run
            error = f"{type(exc).__name__}: {exc}"
            ctx.history.record("fail", "test", W.ERROR, {"workload": name}, error)
            log.warning("workload_failed", workload=name, error=error)
        log.info("workload_done", workload=name, seconds=round(ctx.history.now() - started, 2))
