"""Bandwidth: the link carries at most ``rate_kb_s`` kilobytes per second."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from harness.faults.base import ToxicFault, ToxicParams

__all__ = ["Bandwidth", "BandwidthParams"]


@dataclass(frozen=True, slots=True)
class BandwidthParams(ToxicParams):
    rate_kb_s: int = 1


class Bandwidth(ToxicFault):
    name: ClassVar[str] = "bandwidth"
    toxic_type: ClassVar[str] = "bandwidth"
    _params: BandwidthParams

    def attributes(self) -> dict[str, Any]:
        return {"rate": self._params.rate_kb_s}
