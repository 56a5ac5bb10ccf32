"""The report's alert timeline: which Prometheus alert fired when, per scenario, beside its delivery plot."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import Any

from harness.results import ScenarioResult

__all__ = ["alert_plot"]

ROW_HEIGHT_IN = 0.32


def alert_plot(result: ScenarioResult) -> str | None:
    """A PNG (base64): one row per alert and server, firing spans solid, pending spans pale,
    fault windows shaded, expected alerts marked; None when no Prometheus watched the run."""
    check = result.checks.get("alerts")
    if not isinstance(check, Mapping) or not check.get("applicable") or "spans" not in check:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spans: list[Mapping[str, Any]] = list(check.get("spans") or [])
    expected = {(str(row["alert"]), str(row["server"])) for row in check.get("expected") or []}
    rows = sorted({(str(s["alert"]), str(s["server"])) for s in spans} | expected)
    timeline = result.checks.get("timeline")
    faults = timeline.get("faults", []) if isinstance(timeline, Mapping) else []
    ends = [float(s["end"]) for s in spans if s.get("end") is not None] + [float(s["start"]) for s in spans]
    ends += [float(f["healed"]) for f in faults if f.get("healed") is not None]
    if isinstance(timeline, Mapping) and timeline.get("drain") is not None:
        ends.append(float(timeline["drain"]))
    until = max(ends, default=1.0) + 2.0
    fig, ax = plt.subplots(figsize=(6.0, ROW_HEIGHT_IN * max(len(rows), 1) + 1.2))
    try:
        for fault in faults:
            if fault.get("start") is not None:
                end = fault.get("healed") if fault.get("healed") is not None else until
                ax.axvspan(fault["start"], end, color="red", alpha=0.12)
        for y, (alert, server) in enumerate(rows):
            for span in spans:
                if (span["alert"], span["server"]) != (alert, server):
                    continue
                start = float(span["start"])
                end = float(span["end"]) if span.get("end") is not None else until
                firing = span.get("state") == "firing"
                ax.barh(y, end - start, left=start, height=0.6, color="tab:red" if firing else "orange",
                        alpha=0.9 if firing else 0.35, edgecolor="none")
        labels = [f"{alert} @ {server}" + (" (expected)" if (alert, server) in expected else "")
                  for alert, server in rows]
        ax.set_yticks(range(len(rows)), labels=labels, fontsize=7)
        ax.set_ylim(-0.6, max(len(rows), 1) - 0.4)
        ax.set_xlim(0, until)
        ax.set_xlabel("seconds since start", fontsize=8)
        valid = check.get("valid")
        verdict = "as expected" if valid is True else "NOT as expected" if valid is False else "not judged"
        ax.set_title(f"Prometheus alerts: {verdict}" + ("" if rows else " (none fired)"), fontsize=9)
        ax.fill_between([], [], color="tab:red", label="firing")
        ax.fill_between([], [], color="orange", alpha=0.35, label="pending")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
        return base64.b64encode(buffer.getvalue()).decode("ascii")
    finally:
        plt.close(fig)
