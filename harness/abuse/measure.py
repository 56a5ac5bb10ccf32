"""What the abuse suite measures, as small pure functions and two samplers of the real server.

Kept free of network code so each figure can be checked against a crafted input: a known-bad
audit directory, a known-bad set of frames, a throttle that promises little.
"""

from __future__ import annotations

import math
import os
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "HOUR_S",
    "AuditMeter",
    "Guess",
    "guesses_per_hour",
    "hidden_characters",
    "pace_s",
    "percentile",
    "strings_in",
    "vm_rss_kib",
]

HOUR_S = 3600.0
# Categories that hide text or turn its direction on another player's screen: format characters
# (bidi controls and isolates, zero-width characters, the BOM, tag characters), surrogates,
# private-use characters, and the line and paragraph separators.
HIDDEN_CATEGORIES = frozenset({"Cf", "Cs", "Co", "Zl", "Zp"})
# A combining mark that renders as nothing and splits a word for a pattern matcher (<scr\u034fipt>).
HIDDEN_EXTRA = frozenset({"\u034f"})


def hidden_characters(text: str) -> list[str]:
    """Every invisible or direction-changing character in ``text``, as ``U+XXXX`` in order."""
    if text.isascii():
        return []
    return [f"U+{ord(ch):04X}" for ch in text
            if ch in HIDDEN_EXTRA or unicodedata.category(ch) in HIDDEN_CATEGORIES]


def strings_in(value: Any) -> Iterator[str]:
    """Every string inside a decoded JSON value (keys too: a name can be a key)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from strings_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_in(item)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no samples, never interpolated upward."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


@dataclass(frozen=True, slots=True)
class Guess:
    """One guess's answer, as the brute force saw it."""

    at_s: float
    """When the answer came, in seconds since the attack started."""
    status: int
    retry_after_s: float | None = None

    @property
    def evaluated(self) -> bool:
        """The server judged the password (ran the hash): 200 or 401."""
        return self.status in (200, 401)


def pace_s(answers: Sequence[Guess]) -> float | None:
    """Seconds between evaluated guesses that the server imposed on one address at the end of
    its window, or None when it imposed none (no 429 with a Retry-After).

    The attacker guesses again as soon as it has an answer, so it is evaluated the moment a
    lock ends. Locked now (a 429 after the last evaluated guess): the pace is from that guess
    to the latest end of lock a 429 announced. Unlocked again: the interval between the last two
    evaluated guesses. A 503 (hash queue full) sheds load; it promises no pace and sets none.
    """
    evaluated = [a.at_s for a in answers if a.evaluated]
    locks = [a for a in answers if a.status == 429 and a.retry_after_s]
    if not locks:
        return None
    last = evaluated[-1] if evaluated else 0.0
    after = [a for a in locks if a.at_s >= last]
    if after:
        return max(a.at_s + (a.retry_after_s or 0.0) for a in after) - last
    if len(evaluated) >= 2:
        return evaluated[-1] - evaluated[-2]
    return None


def guesses_per_hour(by_address: Mapping[str, Sequence[Guess]], window_s: float) -> float:
    """Guesses the server would evaluate against one account in an hour, from a short window.

    Per attacking address: what was evaluated in the window, plus the rest of the hour at the
    pace the server imposed at its end (:func:`pace_s`); an address the server never slowed
    down keeps its window's rate for the hour. Summed over the addresses. That is exact for a
    throttle per address with a fixed pace, and an upper bound for a growing back-off or for a
    throttle the addresses share (each address is counted at the shared pace).
    """
    if window_s <= 0:
        raise ValueError("an attack window has a positive length")
    total = 0.0
    for answers in by_address.values():
        evaluated = sum(1 for a in answers if a.evaluated)
        pace = pace_s(answers)
        if pace is None or pace <= 0:
            total += evaluated / window_s * HOUR_S
        else:
            total += evaluated + max(0.0, HOUR_S - window_s) / pace
    return total


def vm_rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` in KiB from /proc/<pid>/status (the kernel's own resident-set figure)."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS line (a zombie or kernel thread?)")


@dataclass
class _FileState:
    size: int


@dataclass
class AuditMeter:
    """Bytes written to the audit directory since ``start()``, across rotation and deletion.

    Files are followed by inode: a rotated file (renamed) keeps its count, a new file counts
    from zero, a file truncated in place counts again from zero, and a deleted file keeps what
    was seen of it. Polling every ``interval_s`` means a file created and deleted between two
    polls would be missed; with a size cap in megabytes that cannot happen at these rates.
    """

    directory: Path
    interval_s: float = 0.05
    grown: int = 0
    _files: dict[tuple[int, int], _FileState] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _scan(self) -> Iterable[tuple[tuple[int, int], int]]:
        if not self.directory.exists():
            return []
        found = []
        for root, _dirs, files in os.walk(self.directory):
            for name in files:
                try:
                    st = os.stat(os.path.join(root, name))
                except FileNotFoundError:  # deleted by rotation between listing and stat
                    continue
                found.append(((st.st_dev, st.st_ino), st.st_size))
        return found

    def baseline(self) -> None:
        """Take the current files as the starting point (their bytes are not growth)."""
        with self._lock:
            self._files = {key: _FileState(size) for key, size in self._scan()}
            self.grown = 0

    def poll(self) -> int:
        """Account for what changed since the last poll; returns the total growth so far."""
        with self._lock:
            for key, size in self._scan():
                state = self._files.get(key)
                if state is None:
                    self._files[key] = _FileState(size)
                    self.grown += size
                elif size >= state.size:
                    self.grown += size - state.size
                    state.size = size
                else:  # truncated in place: what is there now was written after the cut
                    self.grown += size
                    state.size = size
            return self.grown

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll()

    def start(self) -> AuditMeter:
        self.baseline()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="audit-meter", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> int:
        """Stop polling after one last look; returns the total growth."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        return self.poll()
