"""A graceful stop of one service, started again as the heal: a game server (SIGTERM) or PostgreSQL
(a fast shutdown: open transactions rolled back, clients closed).

One step of a rolling restart of the game servers, or the database down for a few seconds. The
heal restarts the service on the same port and store and returns once it answers its health
check. Not a NATS fault: the checkers judge a game server's or the database's absence apart from
NATS outages (``stop_nats_node`` is the NATS node's own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from harness.faults.base import FaultTarget, Killable

__all__ = ["StopService", "StopServiceParams", "Stoppable"]


class Stoppable(Killable, Protocol):
    """A service that can also be stopped gracefully (SIGTERM, then SIGKILL after a timeout)."""

    def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class StopServiceParams:
    service: str = "mythos-0"


class StopService:
    name: ClassVar[str] = "stop_service"

    def __init__(self, params: StopServiceParams) -> None:
        self._params = params
        self._stopped = False

    @property
    def params(self) -> StopServiceParams:
        return self._params

    @property
    def effect(self) -> dict[str, Any]:
        return {"stopped": self._params.service}

    def start(self, target: FaultTarget) -> None:
        service = target.service(self._params.service)
        if not hasattr(service, "stop"):
            raise TypeError(f"{self._params.service} cannot be stopped gracefully")
        stoppable: Stoppable = service  # type: ignore[assignment]  # checked above
        stoppable.stop()
        self._stopped = True

    def heal(self, target: FaultTarget) -> None:
        if self._stopped:  # a restart without a stop would start a second copy on the same port
            target.service(self._params.service).restart()
            self._stopped = False
