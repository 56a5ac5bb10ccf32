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
    "Guesses",
    "guesses_per_hour",
    "hidden_characters",
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
class Guesses:
    """What one account's brute force got out of the server in its window."""

    evaluated: int
    """Answers that judged the password (200/401): the server ran the hash."""
    refused: int
    """Answers that refused to judge it (429/503)."""
    window_s: float
    last_retry_after_s: float | None
    """The wait the server demanded in its last refusal, if that answer was a refusal with Retry-After."""


def guesses_per_hour(g: Guesses) -> float:
    """Guesses the server would evaluate against one account in an hour, from a short window.

    When the window ended on a refusal carrying Retry-After, the server has promised at most
    one guess per that wait from then on: the figure is what was evaluated plus the rest of the
    hour at that pace. That is exact for a fixed-rate throttle and an upper bound for a growing
    back-off. Otherwise (no throttle, or a refusal without a stated wait) the window's rate is
    scaled to the hour, which is what an attacker gets when nothing stops them.
    """
    if g.window_s <= 0:
        raise ValueError("an attack window has a positive length")
    if g.last_retry_after_s is not None and g.last_retry_after_s > 0:
        rest = max(0.0, HOUR_S - g.window_s)
        return g.evaluated + rest / g.last_retry_after_s
    return g.evaluated / g.window_s * HOUR_S


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
