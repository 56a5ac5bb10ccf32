"""A real Prometheus scraping the topology's game servers, with the shipped rules, for the chaos suite.

Prometheus binds 127.0.0.1 on a free port, keeps its TSDB in a scratch directory of the run,
scrapes every game server's ``/metrics`` once a second and evaluates the rules as often. The
rules are ``deploy/prometheus/rules.yml`` as shipped, copied with shorter waits
(:func:`shorten_rules`): each alert's ``for:`` becomes at most ``for_s`` and each range window
at most ``range_s``, so an alert that needs 30 s of a broken link fires within a 10 s fault, and
one that looks back 2 minutes lets go a few seconds after its cause ended. The expressions and
thresholds are the shipped ones. It is stopped by its PID like every other service.

:class:`AlertWatch` polls ``/api/v1/alerts`` while a scenario runs and records each change of
the firing and pending alerts in the scenario's history (operation ``alerts``), so the
``alerts`` checker (:mod:`harness.alerts`) judges them like any other history.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import structlog
import yaml

from harness.alerts import ALERTS_OP
from harness.history import History
from harness.services.lifecycle import Managed
from harness.services.process import ManagedProcess, free_port, wait_until

__all__ = [
    "ALERTS_OP",
    "PROMETHEUS_ENV",
    "RULES_FILE",
    "AlertWatch",
    "PrometheusNotFoundError",
    "PrometheusServer",
    "find_prometheus",
    "find_promtool",
    "shorten_rules",
    "watch_alerts",
]

log = structlog.get_logger(__name__)

HOST = "127.0.0.1"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = PROJECT_ROOT / "deploy" / "prometheus" / "rules.yml"
PROMETHEUS_ENV = "HARNESS_PROMETHEUS"
"""Set to a prometheus binary (the chaos suite does): every scenario run gets a Prometheus."""
START_TIMEOUT_S = 20.0
HTTP_TIMEOUT_S = 2.0
SCRAPE_INTERVAL_S = 1.0
TEST_FOR_S = 2.0
TEST_RANGE_S = 10.0
POLL_INTERVAL_S = 0.5
SETTLE_TIMEOUT_S = 15.0
"""At the end of a run, how long firing alerts get to resolve before the watch stops."""
JOB = "mythos"
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_RANGE = re.compile(r"\[(\d+(?:ms|s|m|h|d|w|y))\]")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}


class PrometheusNotFoundError(RuntimeError):
    """No prometheus or promtool binary: install Debian's prometheus package (scripts/setup.sh)."""


def _find(name: str, env_var: str, env: Mapping[str, str] | None) -> Path:
    environ = os.environ if env is None else env
    override = environ.get(env_var)
    if override:
        path = Path(override)
        if not path.is_file() or not os.access(path, os.X_OK):
            raise PrometheusNotFoundError(f"{env_var}={override!r} is not an executable file")
        return path
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    raise PrometheusNotFoundError(f"{name} not found on PATH: apt-get install prometheus or set {env_var}")


def find_prometheus(env: Mapping[str, str] | None = None) -> Path:
    """PROMETHEUS_BIN (an executable file), else ``prometheus`` on PATH."""
    return _find("prometheus", "PROMETHEUS_BIN", env)


def find_promtool(env: Mapping[str, str] | None = None) -> Path:
    """PROMTOOL_BIN (an executable file), else ``promtool`` on PATH."""
    return _find("promtool", "PROMTOOL_BIN", env)


def duration_s(text: str) -> float:
    """A Prometheus duration ("30s", "1m30s", "10m") in seconds."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNIT_S[u] for n, u in parts)


def _duration(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms" if seconds < 1 or seconds != int(seconds) else f"{int(seconds)}s"


def shorten_rules(text: str, *, for_s: float = TEST_FOR_S, range_s: float = TEST_RANGE_S) -> str:
    """The rules file ``text`` with every ``for:`` cut to ``for_s`` and every range window to ``range_s``.

    Only waits get shorter: expressions, thresholds, labels and annotations stay as shipped.
    """
    doc = yaml.safe_load(text)

    def cut(match: re.Match[str]) -> str:
        return f"[{_duration(min(duration_s(match.group(1)), range_s))}]"

    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            rule["expr"] = _RANGE.sub(cut, str(rule["expr"]))
            if "for" in rule:
                rule["for"] = _duration(min(duration_s(str(rule["for"])), for_s))
    return str(yaml.safe_dump(doc, sort_keys=False, width=120))


def _config(targets: Mapping[str, str], rules: Path, interval_s: float) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": _duration(interval_s), "evaluation_interval": _duration(interval_s),
                   "scrape_timeout": _duration(interval_s)},
        "rule_files": [str(rules)],
        "scrape_configs": [{
            "job_name": JOB,
            "metrics_path": "/metrics",
            "static_configs": [{"targets": [address], "labels": {"server": name}}
                               for name, address in targets.items()],
        }],
    }


class PrometheusServer(Managed):
    """``with PrometheusServer(work_dir, log_dir, targets={"mythos-0": "127.0.0.1:8000"}) as prom:``."""

    def __init__(self, work_dir: Path, log_dir: Path, *, targets: Mapping[str, str],
                 rules: Path = RULES_FILE, binary: Path | None = None, port: int | None = None,
                 scrape_interval_s: float = SCRAPE_INTERVAL_S, for_s: float = TEST_FOR_S,
                 range_s: float = TEST_RANGE_S) -> None:
        self.work_dir = work_dir.resolve()
        self.targets = dict(targets)
        self.port = port or free_port(HOST)
        self.rules_copy = self.work_dir / "rules.yml"
        self.config_file = self.work_dir / "prometheus.yml"
        self.storage = self.work_dir / "data"
        self._rules = rules
        self.scrape_interval_s, self.for_s, self.range_s = scrape_interval_s, for_s, range_s
        argv = [str(binary or find_prometheus()), f"--config.file={self.config_file}",
                f"--storage.tsdb.path={self.storage}", f"--web.listen-address={HOST}:{self.port}",
                "--storage.tsdb.retention.time=1h", "--log.level=warn"]
        self.process = ManagedProcess("prometheus", argv, log_dir / "prometheus.log", cwd=self.work_dir)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _get(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=HTTP_TIMEOUT_S)
        response.raise_for_status()
        return response.json()

    def _ready(self) -> bool:
        return httpx.get(f"{self.url}/-/ready", timeout=HTTP_TIMEOUT_S).status_code == 200

    def targets_up(self) -> dict[str, int]:
        """For each target (by server name), how many scrapes succeeded in the last hour."""
        rows = self.query(f'sum_over_time(up{{job="{JOB}"}}[1h])')
        counts = {str(r["metric"].get("server")): int(float(r["value"][1])) for r in rows}
        return {name: counts.get(name, 0) for name in self.targets}

    def wait_for_targets(self, timeout: float = START_TIMEOUT_S) -> float:
        """Wait until every target was scraped once; the seconds it took."""
        return wait_until(lambda: all(self.targets_up().values()), timeout=timeout,
                          what=f"prometheus on {self.url} scraping {sorted(self.targets)}",
                          alive=lambda: self.process.running, interval=0.25)

    def start(self) -> float:
        """Write the config and the shortened rules, start, and wait until Prometheus is ready.

        Prometheus 2.42 hands its targets to the scrape loop on a 5 s tick, so the first scrape
        comes about 5 s after start: the scenario's setup (accounts, logins, the first steady
        state) runs meanwhile, and :meth:`targets_up` says at the end whether every target was scraped.
        """
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.rules_copy.write_text(shorten_rules(self._rules.read_text(encoding="utf-8"), for_s=self.for_s,
                                                 range_s=self.range_s), encoding="utf-8")
        self.config_file.write_text(yaml.safe_dump(_config(self.targets, self.rules_copy, self.scrape_interval_s),
                                                   sort_keys=False), encoding="utf-8")
        took = self.process.start_until(self._ready, timeout=START_TIMEOUT_S, what=f"prometheus on {self.url}")
        log.info("prometheus_ready", url=self.url, targets=self.targets, seconds=round(took, 3))
        return took

    def stop(self) -> None:
        self.process.stop()

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Prometheus holds now (pending and firing), as /api/v1/alerts lists them."""
        return list(self._get("/api/v1/alerts")["data"]["alerts"])

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/query", query=expr)["data"]["result"])


def _state(alerts: Sequence[Mapping[str, Any]], servers: Mapping[str, str]) -> dict[str, list[dict[str, str]]]:
    """Firing and pending alerts as sorted ``{alert, server}`` rows (the history's form).

    A rule that aggregates ``by (job, instance)`` drops the harness's ``server`` label; the
    instance (``host:port``) names the server then, through ``servers`` (address -> name).
    """
    state: dict[str, list[dict[str, str]]] = {"firing": [], "pending": []}
    for alert in alerts:
        labels = alert.get("labels", {})
        instance = str(labels.get("instance", ""))
        server = str(labels.get("server") or servers.get(instance) or instance or "?")
        row = {"alert": str(labels.get("alertname")), "server": server}
        state.setdefault(str(alert.get("state")), []).append(row)
    for rows in state.values():
        rows.sort(key=lambda r: (r["alert"], r["server"]))
    return {"firing": state["firing"], "pending": state["pending"]}


class AlertWatch:
    """Polls a Prometheus's alerts in a thread and records every change in ``history``."""

    def __init__(self, prometheus: PrometheusServer, history: History, interval_s: float = POLL_INTERVAL_S) -> None:
        self.prometheus = prometheus
        self.history = history
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-watch", daemon=True)
        self._last: dict[str, list[dict[str, str]]] | None = None
        self._servers = {address: name for name, address in prometheus.targets.items()}
        self.errors = 0

    def start(self) -> None:
        self.history.observe("prometheus", ALERTS_OP, {
            "phase": "start", "url": self.prometheus.url, "targets": self.prometheus.targets,
            "for_s": self.prometheus.for_s, "range_s": self.prometheus.range_s,
            "scrape_interval_s": self.prometheus.scrape_interval_s})
        self._thread.start()

    def poll(self) -> dict[str, list[dict[str, str]]] | None:
        """Read the alerts once; record them when they changed. None when Prometheus did not answer."""
        try:
            state = _state(self.prometheus.alerts(), self._servers)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            self.errors += 1
            log.warning("prometheus_alerts_unreadable", error=f"{type(exc).__name__}: {exc}")
            return None
        if state != self._last:
            self._last = state
            self.history.observe("prometheus", ALERTS_OP, {"phase": "run", **state})
        return state

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll()

    def stop(self, settle_s: float = SETTLE_TIMEOUT_S) -> None:
        """Wait (at most ``settle_s``) for firing and pending alerts to resolve, then stop polling."""
        deadline = self.history.now() + settle_s
        while self.history.now() < deadline:
            state = self._last
            if state is not None and not state["firing"] and not state["pending"]:
                break
            self._stop.wait(self.interval_s)
        self._stop.set()
        self._thread.join(timeout=HTTP_TIMEOUT_S * 2)
        self.poll()
        try:
            scrapes: dict[str, int] | None = self.prometheus.targets_up()
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("prometheus_targets_unreadable", error=f"{type(exc).__name__}: {exc}")
            scrapes = None
        self.history.observe("prometheus", ALERTS_OP, {"phase": "end", "errors": self.errors, "scrapes": scrapes})


@contextmanager
def watch_alerts(binary: Path, work_dir: Path, log_dir: Path, targets: Mapping[str, str],
                 history: History) -> Iterator[AlertWatch]:
    """One Prometheus for one topology, its alerts recorded in ``history`` until the block ends."""
    with PrometheusServer(work_dir, log_dir, targets=targets, binary=binary) as prometheus:
        watch = AlertWatch(prometheus, history)
        watch.start()
        try:
            yield watch
        finally:
            watch.stop()
