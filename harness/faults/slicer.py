"""Slicer: data is cut into small packets with a delay between them (partial frames, slow reads)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from harness.faults.base import ToxicFault, ToxicParams

__all__ = ["Slicer", "SlicerParams"]


@dataclass(frozen=True, slots=True)
class SlicerParams(ToxicParams):
    average_size: int = 16
    size_variation: int = 8
    delay_us: int = 1000


class Slicer(ToxicFault):
    name: ClassVar[str] = "slicer"
    toxic_type: ClassVar[str] = "slicer"
    _params: SlicerParams

    def attributes(self) -> dict[str, Any]:
        return {"average_size": self._params.average_size, "size_variation": self._params.size_variation,
                "delay": self._params.delay_us}
