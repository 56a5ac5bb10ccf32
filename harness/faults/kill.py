"""Process crashes: SIGKILL a service, and restart it as the heal (same port, same store)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from harness.faults.base import FaultTarget

__all__ = ["KillMythos", "KillMythosParams", "KillNats", "KillNatsParams"]


@dataclass(frozen=True, slots=True)
class KillNatsParams:
    service: str = "nats"


@dataclass(frozen=True, slots=True)
class KillMythosParams:
    service: str = "mythos-0"


class _Kill:
    def __init__(self, service: str) -> None:
        self._service = service
        self._killed = False

    def start(self, target: FaultTarget) -> None:
        target.service(self._service).kill()
        self._killed = True

    def heal(self, target: FaultTarget) -> None:
        if self._killed:  # a restart without a kill would start a second copy on the same port
            target.service(self._service).restart()
            self._killed = False


class KillNats(_Kill):
    name: ClassVar[str] = "kill_nats"

    def __init__(self, params: KillNatsParams) -> None:
        super().__init__(params.service)
        self._params = params

    @property
    def params(self) -> KillNatsParams:
        return self._params


class KillMythos(_Kill):
    name: ClassVar[str] = "kill_mythos"

    def __init__(self, params: KillMythosParams) -> None:
        super().__init__(params.service)
        self._params = params

    @property
    def params(self) -> KillMythosParams:
        return self._params
