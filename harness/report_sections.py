"""Report sections for the load and browser suites: figures a release manager reads beside the KPIs.

They read what those suites left under reports/ (the Locust summary, the indicator screenshots);
a suite that did not run leaves its section out rather than showing empty figures.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.verdict import Verdict

__all__ = ["e2e_section", "load_section", "run_section"]

# The load figures worth a row, per scenario: (key in figures, label, unit).
LOAD_ROWS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "flood": (
        ("dos_blocked_ratio", "excess commands refused", "ratio"),
        ("compliant_refusals", "compliant players refused", ""),
        ("compliant_p50_ms", "compliant p50", "ms"),
        ("compliant_p99_ms", "compliant p99 (after warm-up)", "ms"),
        ("compliant_p99_with_warmup_ms", "compliant p99 (with warm-up)", "ms"),
    ),
    "alias_amplification": (
        ("attempted_commands_per_s", "attempted per attacker", "cmd/s"),
        ("executed_commands_per_s_max", "executed per attacker (max)", "cmd/s"),
        ("limit_per_s", "limit", "cmd/s"),
    ),
    "chat_fanout": (
        ("players", "players in one room", ""),
        ("delivered_ratio", "lines delivered", "ratio"),
        ("delivery_p50_ms", "delivery p50", "ms"),
        ("delivery_p99_ms", "delivery p99", "ms"),
    ),
    "capacity": (
        ("sustained_commands_per_s", "highest sustained", "cmd/s"),
        ("sustained_players", "players at that step", ""),
        ("sustained_p99_ms", "p99 at that step", "ms"),
        ("stop_reason", "ramp stopped because", ""),
    ),
}


def _value(value: Any, unit: str) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else html.escape(str(value))
    return f"{text} {unit}".strip()


def load_section(reports: Path) -> str:
    """A table per load scenario from reports/load/summary.json, with a link to Locust's report."""
    summary_path = reports / "load" / "summary.json"
    if not summary_path.is_file():
        return ""
    scenarios: dict[str, Any] = json.loads(summary_path.read_text(encoding="utf-8")).get("scenarios", {})
    rows = []
    for name, run in scenarios.items():
        figures = run.get("figures", {})
        cells = [
            f"{label}: <b>{_value(figures[key], unit)}</b>"
            for key, label, unit in LOAD_ROWS.get(name, ())
            if key in figures
        ]
        rss = run.get("server_peak_rss_mib")
        if rss is not None:
            cells.append(f"server peak RSS: <b>{rss:.0f} MiB</b>")
        conn = run.get("connection", {})
        if conn:
            cells.append(f"connections: <b>{conn.get('successes')}/{conn.get('attempts')}</b>")
        report = run.get("reports", {}).get("html")
        link = ""
        if report and (reports.parent / report).is_file():
            link = f"<a href='{html.escape(str(Path(report).relative_to('reports')))}'>Locust report</a>"
        wall = run.get("wall_s")
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{'' if wall is None else f'{wall:.0f} s'}</td>"
            f"<td class='small'>{'; '.join(cells) or html.escape(str(run.get('error') or ''))}</td><td>{link}</td></tr>"
        )
    return (
        "<h2>Load (Locust)</h2><table><tr><th>scenario</th><th>wall</th><th>figures</th><th>report</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def e2e_section(reports: Path) -> str:
    """Thumbnails of the connection indicator in each state, linked to the full screenshots."""
    shots = sorted((reports / "e2e").glob("*.png"))
    if not shots:
        return ""
    figures = "".join(
        f"<figure><a href='e2e/{html.escape(p.name)}'><img class='shot' src='e2e/{html.escape(p.name)}'></a>"
        f"<figcaption class='small'>{html.escape(p.stem)}</figcaption></figure>"
        for p in shots
    )
    return f"<h2>Browser (Playwright, Chromium)</h2><div class='shots'>{figures}</div>"


def run_section(verdict: Verdict) -> str:
    """Which run and commit were judged, how each suite ended, and every reason the gate gave."""
    manifest = verdict.manifest
    esc = html.escape
    if manifest is None:
        head = f"<p class='fail'>No run manifest: {esc(verdict.manifest_error or '')}</p>"
        outcomes = ""
    else:
        dirty = "<b>dirty</b> (uncommitted changes)" if manifest.dirty else "clean"
        head = (f"<p>run <code>{esc(manifest.id)}</code>, commit <code>{esc(manifest.commit)}</code>, "
                f"tree {dirty}, started {esc(manifest.started)}, {'full' if manifest.full else 'default'} "
                f"profile; HEAD now <code>{esc(verdict.head)}</code></p>")
        rows = []
        for suite in dict.fromkeys([*manifest.suites, *manifest.outcomes]):
            outcome = manifest.outcomes.get(suite)
            if outcome is None:
                rows.append(f"<tr class='fail'><td>{esc(suite)}</td><td>no outcome</td><td></td><td></td></tr>")
                continue
            css = "pass" if outcome.exit_code == 0 else "fail"
            rows.append(f"<tr class='{css}'><td>{esc(suite)}</td><td>exit {outcome.exit_code}</td>"
                        f"<td>{esc(outcome.finished or '')}</td><td class='small'>{esc(outcome.note or '')}</td></tr>")
        outcomes = ("<table><tr><th>suite</th><th>outcome</th><th>finished</th><th>note</th></tr>"
                    + "".join(rows) + "</table>")
    file_rows = []
    for f in verdict.files:
        problems = [*(["unreadable: " + f.unreadable] if f.unreadable else []),
                    *(["stale: " + f.stale] if f.stale else []),
                    *("refused: " + r for r in f.refused),
                    *(["missing scenarios: " + ", ".join(f.missing_scenarios)] if f.missing_scenarios else []),
                    *("failure: " + x for x in f.failures)]
        run = f.run or {}
        css = "fail" if problems else "pass"
        file_rows.append(
            f"<tr class='{css}'><td>{esc(f.file)}</td><td>{esc(str(run.get('id', '-')))}</td>"
            f"<td><code>{esc(str(run.get('commit', '-'))[:12])}</code></td><td>{esc(str(run.get('dirty', '-')))}</td>"
            f"<td class='small'>{'<br>'.join(esc(p) for p in problems) or 'ok'}</td></tr>")
    files = ("<h3>KPI files</h3><table><tr><th>file</th><th>run</th><th>commit</th><th>dirty</th><th>status</th></tr>"
             + "".join(file_rows) + "</table>") if file_rows else "<p>No KPI files.</p>"
    reasons = ("<h3>Why the gate failed</h3><ul>" + "".join(f"<li><code>{esc(r)}</code></li>" for r in verdict.reasons)
               + "</ul>") if verdict.reasons else ""
    pending = ("<h3>Pending rows (reported, not gated yet)</h3><p class='small'>"
               + ", ".join(esc(p) for p in verdict.pending) + "</p>") if verdict.pending else ""
    return f"<h2>Run</h2>{head}{outcomes}{reasons}{files}{pending}"
