"""Slow close: a closing connection lingers ``delay_ms`` before the close reaches the peer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from harness.faults.base import ToxicFault, ToxicParams

__all__ = ["SlowClose", "SlowCloseParams"]


@dataclass(frozen=True, slots=True)
class SlowCloseParams(ToxicParams):
    delay_ms: int = 2000


class SlowClose(ToxicFault):
    name: ClassVar[str] = "slow_close"
    toxic_type: ClassVar[str] = "slow_close"
    _params: SlowCloseParams

    def attributes(self) -> dict[str, Any]:
        return {"delay": self._params.delay_ms}
