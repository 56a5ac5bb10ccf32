"""Reset peer: connections are reset (TCP RST) after ``timeout_ms``, immediately with 0."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from harness.faults.base import ToxicFault, ToxicParams

__all__ = ["ResetPeer", "ResetPeerParams"]


@dataclass(frozen=True, slots=True)
class ResetPeerParams(ToxicParams):
    timeout_ms: int = 0


class ResetPeer(ToxicFault):
    name: ClassVar[str] = "reset_peer"
    toxic_type: ClassVar[str] = "reset_peer"
    _params: ResetPeerParams

    def attributes(self) -> dict[str, Any]:
        return {"timeout": self._params.timeout_ms}
