"""A flapping link: the proxy goes down for ``down_s`` at the start of every ``period_s``.

The flaps run on a background thread between ``start`` and ``heal``; ``heal`` stops the thread
and leaves the link up, whichever phase it was in.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import ClassVar

import structlog

from harness.faults.base import FaultTarget
from harness.services.toxiproxy import ToxiproxyError

__all__ = ["Flapping", "FlappingParams"]

log = structlog.get_logger(__name__)
JOIN_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class FlappingParams:
    link: str
    period_s: float = 2.0
    down_s: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.down_s < self.period_s:
            raise ValueError(f"need 0 < down_s < period_s, got down_s={self.down_s} period_s={self.period_s}")


class Flapping:
    name: ClassVar[str] = "flapping"

    def __init__(self, params: FlappingParams) -> None:
        self._params = params
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.flaps = 0

    @property
    def params(self) -> FlappingParams:
        return self._params

    def _run(self, target: FaultTarget, proxy: str) -> None:
        while not self._stop.is_set():
            try:
                target.toxiproxy.set_enabled(proxy, False)
                self.flaps += 1
                if self._stop.wait(self._params.down_s):
                    break
                target.toxiproxy.set_enabled(proxy, True)
            except ToxiproxyError as exc:
                log.warning("flap_failed", proxy=proxy, error=str(exc))
            if self._stop.wait(self._params.period_s - self._params.down_s):
                break

    def start(self, target: FaultTarget) -> None:
        proxy = target.proxy_name(self._params.link)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(target, proxy), name="flapping", daemon=True)
        self._thread.start()

    def heal(self, target: FaultTarget) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT_S)
            self._thread = None
        target.toxiproxy.set_enabled(target.proxy_name(self._params.link), True)
