"""Latency: every chunk waits ``latency_ms`` +- ``jitter_ms``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from harness.faults.base import ToxicFault, ToxicParams

__all__ = ["Latency", "LatencyParams"]


@dataclass(frozen=True, slots=True)
class LatencyParams(ToxicParams):
    latency_ms: int = 500
    jitter_ms: int = 200


class Latency(ToxicFault):
    name: ClassVar[str] = "latency"
    toxic_type: ClassVar[str] = "latency"
    _params: LatencyParams

    def attributes(self) -> dict[str, Any]:
        return {"latency": self._params.latency_ms, "jitter": self._params.jitter_ms}
