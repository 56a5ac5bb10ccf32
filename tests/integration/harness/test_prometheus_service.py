"""The chaos suite's Prometheus, for real: it scrapes a target, fires a shipped alert within the
shortened wait, the watch records it in the history, and it stops by its PID."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.alerts import alert_spans
from harness.history import History
from harness.required_tools import require_prometheus
from harness.services.prometheus import PrometheusNotFoundError, find_prometheus, find_promtool, watch_alerts

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

LINK_DOWN = (b'# TYPE mythos_nats_connection_state gauge\n'
             b'mythos_nats_connection_state{state="connected"} 0.0\n'
             b'mythos_nats_connection_state{state="reconnecting"} 1.0\n')
LINK_UP = (b'# TYPE mythos_nats_connection_state gauge\n'
           b'mythos_nats_connection_state{state="connected"} 1.0\n'
           b'mythos_nats_connection_state{state="reconnecting"} 0.0\n')


class _Metrics(BaseHTTPRequestHandler):
    body = LINK_DOWN

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def target() -> Iterator[str]:
    """A stand-in /metrics on loopback whose NATS link is down (the alert's firing input)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_link_down_target_fires_the_link_alert_and_the_watch_records_it(tmp_path: Path, target: str) -> None:
    history = History(tmp_path / "history.jsonl")
    with watch_alerts(require_prometheus(), tmp_path / "prom", tmp_path / "logs", {"mythos-0": target},
                      history) as watch:
        prometheus = watch.prometheus
        assert prometheus.url.startswith("http://127.0.0.1:")
        prometheus.wait_for_targets(timeout=20)
        deadline = history.now() + 15
        while history.now() < deadline and not any(
                s.alert == "MythosNatsLinkDown" and s.state == "firing" for s in alert_spans(history.ops)):
            threading.Event().wait(0.25)
        pid = prometheus.process.pid
        assert (tmp_path / "prom" / "data").is_dir()
        assert "for: 2s" in (tmp_path / "prom" / "rules.yml").read_text(encoding="utf-8")
        _Metrics.body = LINK_UP  # the heal: the watch's end waits for the alert to resolve
    history.close()
    _Metrics.body = LINK_DOWN
    firing = [s for s in alert_spans(history.ops) if s.state == "firing"]
    assert [(s.alert, s.server) for s in firing][:1] == [("MythosNatsLinkDown", "mythos-0")], firing
    assert firing[0].end is not None, "the alert did not resolve after the link came back"
    assert not _alive(pid), "prometheus outlived its block"
    end = [op for op in history.ops if op.f == "alerts" and (op.value or {}).get("phase") == "end"]
    assert end and end[0].value["scrapes"]["mythos-0"] > 0


def test_a_binary_variable_pointing_at_nothing_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(PrometheusNotFoundError, match="PROMETHEUS_BIN="):
        find_prometheus({"PROMETHEUS_BIN": str(tmp_path / "nope")})
    with pytest.raises(PrometheusNotFoundError, match="PROMTOOL_BIN="):
        find_promtool({"PROMTOOL_BIN": str(tmp_path)})
