"""Reading what the compliant players recorded: latencies per window and what reached their screens."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.abuse.measure import hidden_characters, percentile, strings_in

__all__ = ["CompliantLog", "CompliantWindow", "Spoofing", "spoofing"]

MIN_SAMPLES = 20
"""Fewer round trips than this in the abuse window is not a p99: report it as not measured."""


@dataclass(frozen=True, slots=True)
class CompliantWindow:
    commands: int
    accepted_ms: tuple[float, ...]
    refused: Counter[str]
    timeouts: int
    timeout_ms: float

    @property
    def samples(self) -> list[float]:
        """Accepted round trips, with each timeout counted as the full patience (never dropped)."""
        return [*self.accepted_ms, *([self.timeout_ms] * self.timeouts)]

    @property
    def p99_ms(self) -> float | None:
        samples = self.samples
        return percentile(samples, 99) if len(samples) >= MIN_SAMPLES else None

    def headline(self) -> str:
        p99 = percentile(self.samples, 99)
        shown = "-" if p99 is None else f"{p99:.0f} ms"
        refused = sum(self.refused.values())
        return f"compliant p99 {shown} (n={self.commands}, {refused} refused, {self.timeouts} timeouts)"


@dataclass(frozen=True, slots=True)
class Spoofing:
    characters: int
    events: int
    samples: tuple[str, ...]


def spoofing(records: list[dict[str, Any]]) -> Spoofing:
    """Hidden characters in every event the compliant players received (chat, names, occupants)."""
    found: list[str] = []
    events = 0
    for record in records:
        if record.get("k") != "ev":
            continue
        events += 1
        for text in strings_in(record.get("d")):
            hidden = hidden_characters(text)
            found += [f"{h} in {record.get('e')}" for h in hidden]
    return Spoofing(len(found), events, tuple(dict.fromkeys(found))[:10])


class CompliantLog:
    """Tails the compliant players' JSON-lines file; safe to read while they still write."""

    def __init__(self, path: Path, timeout_s: float) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self.records: list[dict[str, Any]] = []
        self._offset = 0
        self._partial = b""

    def refresh(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return self.records
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        self._offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()  # an unfinished last line waits for the next read
        for line in lines:
            if line.strip():
                self.records.append(json.loads(line))
        return self.records

    def window(self, start: float, end: float) -> CompliantWindow:
        commands = [r for r in self.refresh() if r.get("k") == "cmd" and start <= r["t"] <= end]
        accepted = tuple(float(r["ms"]) for r in commands if r["o"] == "ok" or str(r["o"]).startswith("fail:"))
        refused = Counter(str(r["o"]).split(":", 1)[1] for r in commands if str(r["o"]).startswith("refused:"))
        timeouts = sum(1 for r in commands if r["o"] in ("timeout", "lost"))
        return CompliantWindow(len(commands), accepted, refused, timeouts, self.timeout_s * 1000.0)

    def losses(self) -> list[dict[str, Any]]:
        return [r for r in self.refresh() if r.get("k") == "conn" and r.get("o") == "lost"]

    def heard(self, text: str, since: float = 0.0) -> bool:
        for record in self.refresh():
            if record.get("k") == "ev" and record.get("e") == "chat" and record["t"] >= since:
                data = record.get("d") or {}
                if text in str(data.get("content", "")):
                    return True
        return False
