"""Partition: the link's proxy is disabled, dropping open connections and refusing new ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from harness.faults.base import FaultTarget

__all__ = ["Partition", "PartitionParams"]


@dataclass(frozen=True, slots=True)
class PartitionParams:
    link: str


class Partition:
    name: ClassVar[str] = "partition"

    def __init__(self, params: PartitionParams) -> None:
        self._params = params

    @property
    def params(self) -> PartitionParams:
        return self._params

    def start(self, target: FaultTarget) -> None:
        target.toxiproxy.set_enabled(target.proxy_name(self._params.link), False)

    def heal(self, target: FaultTarget) -> None:
        target.toxiproxy.set_enabled(target.proxy_name(self._params.link), True)
