"""Blackhole: the timeout toxic with 0 swallows data both ways and never closes the connection.

Only pings notice it: the TCP connection stays up, so nothing errors until a ping goes unanswered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from harness.faults.base import Stream, ToxicFault, ToxicParams

__all__ = ["Blackhole", "BlackholeParams"]


@dataclass(frozen=True, slots=True)
class BlackholeParams(ToxicParams):
    stream: Stream = "both"


class Blackhole(ToxicFault):
    name: ClassVar[str] = "blackhole"
    toxic_type: ClassVar[str] = "timeout"
    _params: BlackholeParams

    def attributes(self) -> dict[str, Any]:
        return {"timeout": 0}
