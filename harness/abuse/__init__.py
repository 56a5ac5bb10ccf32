"""The abuse suite: hostile players against a real server, compliant players throughout.

``run_abuse()`` starts nats-server and ``mythos serve`` on loopback with the real default
throttles, runs each attack of :data:`ATTACKS` within its budget (short or full profile), and
writes ``reports/kpi/abuse.json`` and ``reports/abuse/summary.json``. docs/abuse.md lists the
attacks, what each KPI measures and how to read a run.
"""

from harness.abuse.attacks import ATTACKS, Attack, attack_names
from harness.abuse.context import Budget
from harness.abuse.runner import AbuseResult, AttackRun, run_abuse

__all__ = ["ATTACKS", "AbuseResult", "Attack", "AttackRun", "Budget", "attack_names", "run_abuse"]
