"""``harness load``: Locust scenarios against a real mythos and nats-server, read back into KPIs.

``scenarios`` says what runs, ``runner`` runs it (Locust always as a subprocess: importing it
monkey-patches with gevent), ``figures`` turns the files a run leaves into numbers (pure
functions), ``results`` writes ``reports/kpi/load.json`` and ``reports/load/summary.json``.
Importing this package starts nothing.
"""

from harness.load.figures import (
    alias_figures,
    capacity_figures,
    chat_figures,
    connection_figures,
    flood_figures,
    percentile,
)
from harness.load.results import LoadResult, ScenarioRun, control_verdict, failed, headline, load_kpis, outcome
from harness.load.runner import run_load
from harness.load.scenarios import (
    CONTROL_RATE_LIMIT,
    NEGATIVE_CONTROL,
    RATE_LIMIT,
    RATE_WINDOW_S,
    SCENARIOS,
    LoadScenario,
)

__all__ = [
    "CONTROL_RATE_LIMIT",
    "NEGATIVE_CONTROL",
    "RATE_LIMIT",
    "RATE_WINDOW_S",
    "SCENARIOS",
    "LoadResult",
    "LoadScenario",
    "ScenarioRun",
    "alias_figures",
    "capacity_figures",
    "chat_figures",
    "connection_figures",
    "control_verdict",
    "failed",
    "flood_figures",
    "headline",
    "load_kpis",
    "outcome",
    "percentile",
    "run_load",
]
