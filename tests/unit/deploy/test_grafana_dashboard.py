"""Every PromQL expression of the shipped Grafana dashboard parses, and names only real series.

The expressions are extracted from deploy/grafana/mythos.json (panels, nested rows, annotations),
Grafana's own variables replaced by values Prometheus accepts, written as recording rules of a
generated rules file and checked with ``promtool check rules``. Each metric name they use must
be in what a running mythos serves at GET /metrics (the app started in-process), a recording
rule of deploy/prometheus/rules.yml, or a series Prometheus makes itself (``up``, ``ALERTS``).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from harness.required_tools import require_promtool

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "deploy" / "grafana" / "mythos.json"
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h", "${datasource}": "",
                     "$instance": ".*"}
"""What Grafana substitutes before Prometheus sees an expression (``$instance``: the All value)."""
PROMETHEUS_OWN = {"up", "ALERTS", "ALERTS_FOR_STATE"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
            "offset", "inf", "nan"}
REQUIRED_PANELS = ("Connections", "NATS link state", "Publish breaker", "Publish latency", "DLQ depth",
                   "Refusals by type")


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_exprs(dashboard: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(where, expression) for every PromQL expression of a dashboard."""
    found = [(f"panel {p.get('title')!r} {t.get('refId')}", str(t["expr"]))
             for p in _panels(dashboard.get("panels", [])) for t in p.get("targets", []) if t.get("expr")]
    found += [(f"annotation {a.get('name')!r}", str(a["expr"]))
              for a in dashboard.get("annotations", {}).get("list", []) if a.get("expr")]
    return found


def grafana_free(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a Grafana variable this test does not know: {expr}"
    return expr


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (label names, functions, keywords and literals left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set(re.findall(r"(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()", text))
    return {n for n in names if n.lower() not in KEYWORDS and not re.fullmatch(r"\d+[smhdwy]", n)}


def exported_names(exposition: str) -> set[str]:
    """Every sample name a /metrics text can carry, families without samples yet included."""
    names = set(re.findall(r"^([A-Za-z_:][\w:]*)(?:\{| )", exposition, flags=re.MULTILINE))
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, flags=re.MULTILINE):
        names.add(name)
        if kind == "histogram":
            names.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"})
    return names


def recording_rules() -> set[str]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return {r["record"] for g in doc["groups"] for r in g["rules"] if "record" in r}


def _check_rules(exprs: list[tuple[str, str]], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr_{i}", "expr": grafana_free(expr)} for i, (_, expr) in enumerate(exprs)]}]}
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    return subprocess.run([str(require_promtool()), "check", "rules", str(path)], capture_output=True, text=True,
                          timeout=60, check=False)


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def test_the_dashboard_has_the_operators_panels() -> None:
    titles = {p.get("title") for p in _panels(_dashboard()["panels"])}
    assert set(REQUIRED_PANELS) <= titles, f"missing panels {set(REQUIRED_PANELS) - titles}"


def test_every_dashboard_expression_passes_promtool(tmp_path: Path) -> None:
    exprs = dashboard_exprs(_dashboard())
    assert len(exprs) >= len(REQUIRED_PANELS)
    result = _check_rules(exprs, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout, result.stdout


def test_a_broken_expression_is_refused(tmp_path: Path) -> None:
    result = _check_rules([("bad", "sum by (instance) (rate(mythos_connections[$__rate_interval])")], tmp_path)
    assert result.returncode != 0


async def test_every_metric_the_dashboard_and_the_rules_use_is_served_by_mythos(client: httpx.AsyncClient) -> None:
    exposition = (await client.get("/metrics")).text
    known = exported_names(exposition) | recording_rules() | PROMETHEUS_OWN
    problems = [f"{where}: {sorted(metric_names(expr) - known)} in {expr}"
                for where, expr in dashboard_exprs(_dashboard()) if metric_names(expr) - known]
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    problems += [f"rule {r.get('alert') or r.get('record')}: {sorted(metric_names(r['expr']) - known)}"
                 for g in doc["groups"] for r in g["rules"] if metric_names(r["expr"]) - known]
    assert not problems, "\n".join(problems)


def test_the_name_check_refuses_a_metric_mythos_does_not_serve() -> None:
    exposition = "# HELP mythos_connections x\n# TYPE mythos_connections gauge\nmythos_connections 0.0\n"
    names = metric_names('sum by (instance) (rate(mythos_nope_total{job="mythos"}[5m])) / mythos_connections')
    assert names == {"mythos_nope_total", "mythos_connections"}
    assert names - exported_names(exposition) == {"mythos_nope_total"}


def test_names_in_histograms_and_label_clauses_are_read_right() -> None:
    expr = ('histogram_quantile(0.99, sum by (instance, le) (rate(mythos_nats_publish_latency_seconds_bucket'
            '{instance=~".*"}[1m]))) > bool 0.5 and on (instance) up == 1')
    assert metric_names(expr) == {"mythos_nats_publish_latency_seconds_bucket", "up"}
