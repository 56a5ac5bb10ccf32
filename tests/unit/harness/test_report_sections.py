"""The load and browser sections of the KPI report show what those suites left, and nothing when absent."""

from __future__ import annotations

import json
from pathlib import Path

from harness.report_sections import e2e_section, load_section


def test_sections_are_absent_when_the_suites_did_not_run(tmp_path: Path) -> None:
    assert load_section(tmp_path) == ""
    assert e2e_section(tmp_path) == ""


def test_load_section_shows_figures_rss_and_links_the_locust_report(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    (reports / "load" / "flood").mkdir(parents=True)
    (reports / "load" / "flood" / "report.html").write_text("<html></html>")
    summary = {
        "scenarios": {
            "flood": {
                "wall_s": 62.2,
                "figures": {"dos_blocked_ratio": 0.9731, "compliant_refusals": 2, "compliant_p99_ms": 73.0},
                "connection": {"attempts": 30, "successes": 29},
                "server_peak_rss_mib": 486.8,
                "reports": {"html": "reports/load/flood/report.html"},
            },
            "capacity": {"figures": {"sustained_commands_per_s": 255.0, "stop_reason": "p99 > 100 ms"}},
        }
    }
    (reports / "load" / "summary.json").write_text(json.dumps(summary))
    text = load_section(reports)
    assert "excess commands refused: <b>0.9731 ratio</b>" in text
    assert "compliant players refused: <b>2</b>" in text
    assert "server peak RSS: <b>487 MiB</b>" in text
    assert "connections: <b>29/30</b>" in text
    assert "href='load/flood/report.html'" in text
    assert "highest sustained: <b>255 cmd/s</b>" in text
    assert "p99 &gt; 100 ms" in text


def test_e2e_section_links_each_screenshot(tmp_path: Path) -> None:
    (tmp_path / "e2e").mkdir()
    for name in ("indicator-failed.png", "indicator-fully_connected.png"):
        (tmp_path / "e2e" / name).write_bytes(b"\x89PNG")
    text = e2e_section(tmp_path)
    assert text.count("<figure>") == 2
    assert "src='e2e/indicator-failed.png'" in text
