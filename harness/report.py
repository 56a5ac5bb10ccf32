"""The KPI report: merge every suite file into reports/kpi.json and a self-contained kpi.html.

The HTML has no external assets (plots are inline PNGs) so it can be attached to a CI run and
read offline. The verdict shown is harness/verdict.py's, the same ``harness gate`` prints, so
the report and the gate cannot disagree.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.kpi import CATALOGUE, SuiteReport, load_suite
from harness.report_alerts import alert_plot
from harness.report_sections import e2e_section, load_section, run_section
from harness.results import ScenarioResult, latest_results
from harness.verdict import ALWAYS_SHOWN, MergedKPI, Verdict, judge, kpi_files, merge_kpis

__all__ = ["ALWAYS_SHOWN", "MergedKPI", "build_report", "load_suites", "merge_kpis", "render_html"]


def load_suites(kpi_dir: Path) -> list[SuiteReport]:
    """Every suite file of reports/kpi/ (not the run manifest); a corrupt file raises naming it."""
    return [load_suite(path) for path in kpi_files(kpi_dir)]


# ---------------------------------------------------------------- plots


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float = 7.0, height: float = 2.6) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def _close(fig: Any) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)


LINK_STRIP = (-0.12, -0.04)
"""Where the link-state strip sits under the delivery curve (data coordinates)."""


def _link_strip(ax: Any, link: Sequence[Mapping[str, Any]], until: float) -> bool:
    """Purple where a server's link was not connected, dark red where its breaker was open."""
    drawn = False
    by_server: dict[str, list[Mapping[str, Any]]] = {}
    for sample in link:
        by_server.setdefault(str(sample.get("server")), []).append(sample)
    for samples in by_server.values():
        for sample, following in zip(samples, [*samples[1:], None], strict=True):
            end = float(following["t"]) if following is not None else until
            color = ("darkred" if sample.get("breaker") == "open" else
                     "tab:purple" if sample.get("state") != "connected" else None)
            if color:
                ax.fill_between([float(sample["t"]), end], *LINK_STRIP, color=color, alpha=0.8, linewidth=0)
                drawn = True
    return drawn


def delivery_plot(result: ScenarioResult) -> str | None:
    """Share of each second's acknowledged messages that were delivered, fault windows shaded."""
    timeline = result.checks.get("timeline")
    if not isinstance(timeline, Mapping) or not timeline.get("buckets"):
        return None
    buckets = timeline["buckets"]
    width = float(timeline.get("bucket_s", 1.0))
    fig, ax = _figure(8.0, 2.8)
    try:
        xs = [b["t"] for b in buckets]
        until = max(xs[-1] + width, float(timeline.get("drain") or 0.0))
        ax2 = ax.twinx()
        ax2.bar(xs, [b["received"] for b in buckets], width=width * 0.8, align="edge", alpha=0.25,
                color="grey", label="receptions")
        if any(b.get("refused") for b in buckets):
            ax2.bar(xs, [b.get("refused", 0) for b in buckets], width=width * 0.4, align="edge", alpha=0.6,
                    color="orange", label="refused sends")
        ax2.set_ylabel("per second", fontsize=8)
        # The delivery curve above the bars: the twin axis is drawn last unless told otherwise.
        ax.set_zorder(ax2.get_zorder() + 1)
        ax.patch.set_visible(False)
        rates = [b["delivered"] / b["sent"] if b["sent"] else float("nan") for b in buckets]
        ax.step([*xs, xs[-1] + width], [*rates, rates[-1]], where="post", color="tab:blue", linewidth=1.8,
                label="delivered / acknowledged")
        for fault in timeline.get("faults", []):
            if fault.get("start") is not None:
                end = fault.get("healed") if fault.get("healed") is not None else until
                ax.axvspan(fault["start"], end, color="red", alpha=0.12, label=f"fault: {fault.get('fault')}")
        if timeline.get("drain") is not None:
            ax.axvline(float(timeline["drain"]), color="black", linestyle=":", linewidth=1, label="workload end")
        if _link_strip(ax, timeline.get("link", []), until):
            ax.fill_between([], [], color="tab:purple", label="link not connected (/metrics)")
        ax.set_ylim(LINK_STRIP[0] - 0.02, 1.08)
        ax.set_xlim(0, until)
        ax.set_xlabel("seconds since start")
        ax.set_ylabel("delivery")
        handles, labels = ax.get_legend_handles_labels()
        more_handles, more_labels = ax2.get_legend_handles_labels()
        ax.legend(handles + more_handles, labels + more_labels, fontsize=7, loc="upper left",
                  bbox_to_anchor=(1.08, 1.0), frameon=False)
        ax.set_title(result.scenario, fontsize=9)
        return _png(fig)
    finally:
        _close(fig)


def recovery_plot(results: Sequence[ScenarioResult]) -> str | None:
    """Per fault window: heal -> link connected (FSM, from /metrics) and heal -> first delivery."""
    rows: list[tuple[str, float | None, float | None]] = []
    for r in results:
        recovery = r.checks.get("recovery")
        if not isinstance(recovery, Mapping):
            continue
        fsm = {(w.get("window"), w.get("server")): w.get("fsm_recovery_s")
               for w in (r.check("transitions", "windows") or [])}
        for window in recovery.get("windows", []):
            fsm_times = [t for (name, _), t in fsm.items() if name == window.get("window") and t is not None]
            rows.append((f"{r.scenario} {window.get('window')}", max(fsm_times, default=None),
                         window.get("recovery_s")))
    if not rows:
        return None
    fig, ax = _figure(8.0, 0.45 * len(rows) + 1.2)
    try:
        height = 0.38
        ys = list(range(len(rows)))
        ax.barh([y - height / 2 for y in ys], [f or 0.0 for _, f, _ in rows], height=height,
                color="tab:purple", label="heal -> link connected (FSM)")
        ax.barh([y + height / 2 for y in ys], [d or 0.0 for _, _, d in rows], height=height,
                color="tab:blue", label="heal -> first delivery (nats_recovery_s)")
        for y, (_, _, delivered) in zip(ys, rows, strict=True):
            if delivered is None:
                ax.text(0.02, y + height / 2, "no delivery after heal", va="center", fontsize=7, color="red")
        ax.set_yticks(ys, [label for label, _, _ in rows], fontsize=7)
        ax.invert_yaxis()
        ax.axvline(CATALOGUE["nats_recovery_s"].goal, color="green", linestyle="--", label="goal (p95)")
        ax.set_xlabel("seconds after the fault healed")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        return _png(fig)
    finally:
        _close(fig)


def latency_plot(results: Sequence[ScenarioResult]) -> str | None:
    rows = [(r.scenario, [r.check("latency", f"p{q}_s") for q in (50, 95, 99)]) for r in results]
    rows = [(s, v) for s, v in rows if all(x is not None for x in v)]
    if not rows:
        return None
    fig, ax = _figure(7.0, 0.5 * len(rows) + 1.2)
    try:
        height = 0.25
        for offset, (q, label) in enumerate(zip((0, 1, 2), ("p50", "p95", "p99"), strict=True)):
            ax.barh([i + offset * height for i in range(len(rows))], [v[q] * 1000 for _, v in rows],
                    height=height, label=label)
        ax.set_yticks([i + height for i in range(len(rows))], [s for s, _ in rows])
        ax.invert_yaxis()  # scenarios top-down in table order, p50 first within each
        ax.set_xlabel("send to delivery, ms")
        ax.legend(fontsize=7)
        return _png(fig)
    finally:
        _close(fig)


# ---------------------------------------------------------------- HTML

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}
th{background:#f3f3f3}.pass{background:#e6f4e6}.fail{background:#fbe3e3}.nm{background:#fff4d6}
.verdict{font-size:20px;font-weight:bold}.small{color:#666;font-size:12px}img{max-width:100%}
.pair{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}
.shots{display:flex;flex-wrap:wrap;gap:12px}.shots figure{margin:0}img.shot{width:320px;border:1px solid #ccc}
"""


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "not measured"
    return f"{value:.4g} {unit}".strip()


def _evidence(text: str, out_dir: Path) -> str:
    first = text.split(" ", 1)[0].rstrip(",;:()")
    if first and Path(first).exists():
        href = os.path.relpath(Path(first).resolve(), out_dir.resolve())
        rest = text[len(first):]
        return f'<a href="{html.escape(href)}">{html.escape(first)}</a>{html.escape(rest)}'
    return html.escape(text)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _scenario_table(results: Sequence[ScenarioResult], out_dir: Path) -> str:
    """One row per scenario run: its verdict and the figures behind the chaos KPIs."""
    head = ("scenario", "valid", "acknowledged", "delivered", "dead-lettered", "lost", "dlq accounted",
            "DLQ replayed", "recovery s", "link FSM s", "availability", "checkers not valid", "history")
    rows = []
    for r in results:
        failing = sorted(name for name, check in r.checks.items()
                         if isinstance(check, Mapping) and check.get("valid") is not True)
        history = Path(r.history)
        link = (f"<a href='{html.escape(os.path.relpath(history.resolve(), out_dir.resolve()))}'>history</a>"
                if history.exists() else html.escape(r.run_id))
        recovery = r.check("recovery", "recovery_s") or []
        fsm = r.check("transitions", "fsm_recovery_s") or []
        status = "pass" if r.valid is True else ("fail" if r.valid is False else "nm")
        cells = (r.scenario, r.valid, r.check("delivery", "acknowledged"), r.check("delivery", "delivered"),
                 r.check("delivery", "dead_lettered"), r.check("delivery", "lost"),
                 r.check("delivery", "dlq_accounted"), r.check("replay", "dlq_replayed"),
                 ", ".join(f"{t:.2f}" for t in recovery) or None,
                 ", ".join(f"{t:.2f}" for t in fsm) or None,
                 r.check("availability", "availability_during_nats_faults"), ", ".join(failing) or None)
        rows.append(f"<tr class='{status}'>" + "".join(f"<td>{_cell(c)}</td>" for c in cells)
                    + f"<td>{link}</td></tr>")
    header = "".join(f"<th>{h}</th>" for h in head)
    return f"<table><tr>{header}</tr>{''.join(rows)}</table>"


def _status(entry: MergedKPI) -> tuple[str, str]:
    """(css class, label) of a KPI row."""
    r = entry.result
    if r.passed:
        css, label = "pass", "PASS"
    elif r.vetoed:
        css, label = "fail", "VETOED"
    elif not r.measured:
        css, label = "nm", "NOT MEASURED"
    else:
        css, label = "fail", "FAIL"
    if entry.pending:
        return "nm", f"{label} (pending: not gated yet)"
    if not entry.gated:
        return css, f"{label} (not gated)"
    return css, label


def _spec_text(comparator: str, threshold: float | None) -> str:
    return "-" if threshold is None else f"{comparator} {threshold:g}"


def _kpi_rows(verdict: Verdict, out_dir: Path) -> str:
    rows = []
    for kpi_id, entry in verdict.merged.items():
        r = entry.result
        css, label = _status(entry)
        where = html.escape(entry.file or entry.suite) + (" <b>(stale)</b>" if entry.stale else "")
        veto = f"<br><b>vetoed:</b> {html.escape(r.vetoed)}" if r.vetoed else ""
        rows.append(
            f"<tr class='{css}'><td>{html.escape(kpi_id)}</td>"
            f"<td>{html.escape(_spec_text(r.comparator, r.threshold))} {html.escape(r.unit)}</td>"
            f"<td>{_fmt(r.goal, r.unit)}</td><td>{_fmt(r.value, r.unit)}</td>"
            f"<td>{'-' if r.sample is None else r.sample}</td><td>{label}</td>"
            f"<td>{'met' if r.goal_met else _fmt(r.distance_to_goal, r.unit)}</td><td>{where}</td>"
            f"<td class='small'>{_evidence(r.evidence, out_dir)}{veto}</td></tr>")
    for kpi_id, row in CATALOGUE.items():
        if kpi_id in verdict.merged:
            continue
        label = "PENDING (not gated yet)" if not row.gated else "MISSING"
        rows.append(f"<tr class='nm'><td>{kpi_id}</td><td>{_spec_text(row.comparator, row.threshold)} {row.unit}</td>"
                    f"<td>{row.goal:g} {row.unit}</td><td>not measured</td><td>-</td><td>{label}</td><td></td>"
                    f"<td>{', '.join(row.measured_by)}</td><td></td></tr>")
    return "".join(rows)


def render_html(verdict: Verdict, results: Sequence[ScenarioResult], out_dir: Path) -> str:
    suite_rows = "".join(
        f"<tr><td>{html.escape(s.suite)}</td><td>{s.started.isoformat()}</td><td>{s.finished.isoformat()}</td>"
        f"<td>{s.wall_time_s:.1f}</td><td>{len(s.kpis)}</td></tr>" for s in verdict.suites)
    plots = [_scenario_table(results, out_dir)] if results else []
    for result in results:
        pngs = [png for png in (delivery_plot(result), alert_plot(result)) if png]
        if pngs:
            title = html.escape(result.scenario)
            meta = f"run {html.escape(result.run_id)}, valid: {html.escape(str(result.valid))}"
            images = "".join(f"<img src='data:image/png;base64,{png}'>" for png in pngs)
            plots.append(f"<h3>{title} <span class='small'>{meta}</span></h3><div class='pair'>{images}</div>")
    for title, png_or_none in (("Recovery times", recovery_plot(results)),
                               ("Delivery latency percentiles", latency_plot(results))):
        if png_or_none:
            plots.append(f"<h2>{title}</h2><img src='data:image/png;base64,{png_or_none}'>")
    verdict_text = "GATE PASSED" if verdict.passed else (
        f"GATE FAILED: {len(verdict.reasons)} reason(s), {len(verdict.failed)} KPI(s) failed, "
        f"{len(verdict.missing)} missing")
    if verdict.passed and verdict.stale_files:
        verdict_text += f" (with --allow-stale: {len(verdict.stale_files)} stale file(s))"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Mythos KPI report</title>
<style>{CSS}</style></head><body>
<h1>Mythos KPI report</h1>
<p class="small">generated {datetime.now(UTC).isoformat()}</p>
<p class="verdict {'pass' if verdict.passed else 'fail'}">{verdict_text}</p>
{run_section(verdict)}
<h2>KPIs</h2>
<table><tr><th>KPI</th><th>spec</th><th>goal</th><th>measured</th><th>sample</th><th>result</th>
<th>distance to goal</th><th>file</th><th>evidence</th></tr>{_kpi_rows(verdict, out_dir)}</table>
<h2>Suites (wall time)</h2>
<p class="small">From the first start to the last finish recorded in each suite's KPI file
(each suite removes its own old KPI file first, so this is the suite's run).</p>
<table><tr><th>suite</th><th>started</th><th>finished</th><th>wall time s</th><th>KPIs</th></tr>
{suite_rows}</table>
<h2>Chaos scenarios</h2>{''.join(plots) or '<p>No scenario results.</p>'}
{load_section(out_dir)}
{e2e_section(out_dir)}
</body></html>
"""


def build_report(reports: Path, *, allow_stale: bool = False) -> tuple[Path, Path, Verdict]:
    """Write reports/kpi.json and reports/kpi.html from the run under ``reports``; return the verdict."""
    verdict = judge(reports, allow_stale=allow_stale)
    results = latest_results(reports)
    manifest = verdict.manifest
    data = {
        "generated": datetime.now(UTC).isoformat(),
        "gate": verdict.to_dict(),
        "run": None if manifest is None else manifest.to_dict(),
        "files": [f.to_dict() for f in verdict.files],
        "suites": [{"suite": s.suite, "started": s.started.isoformat(), "finished": s.finished.isoformat(),
                    "wall_time_s": s.wall_time_s} for s in verdict.suites],
        "kpis": [entry.to_dict() for entry in verdict.merged.values()],
        "pending": list(verdict.pending),
        "scenarios": [{"scenario": r.scenario, "run_id": r.run_id, "valid": r.valid, "history": r.history}
                      for r in results],
    }
    reports.mkdir(parents=True, exist_ok=True)
    json_path = reports / "kpi.json"
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    html_path = reports / "kpi.html"
    html_path.write_text(render_html(verdict, results, reports), encoding="utf-8")
    return json_path, html_path, verdict
