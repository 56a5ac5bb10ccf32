"""Limit data: each connection is closed after ``bytes`` bytes have passed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from harness.faults.base import ToxicFault, ToxicParams

__all__ = ["LimitData", "LimitDataParams"]


@dataclass(frozen=True, slots=True)
class LimitDataParams(ToxicParams):
    bytes: int = 4096


class LimitData(ToxicFault):
    name: ClassVar[str] = "limit_data"
    toxic_type: ClassVar[str] = "limit_data"
    _params: LimitDataParams

    def attributes(self) -> dict[str, Any]:
        return {"bytes": self._params.bytes}
