"""The fault interface and the guarantee that every started fault is healed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal, Protocol

import structlog

from harness.services.toxiproxy import ToxiproxyClient, ToxiproxyError

__all__ = ["Fault", "FaultTarget", "Killable", "Stream", "ToxicFault", "ToxicParams", "applied"]

log = structlog.get_logger(__name__)

Stream = Literal["downstream", "upstream", "both"]


class Killable(Protocol):
    """A service the nemesis can crash and bring back (nats-server, a mythos)."""

    def kill(self) -> None: ...

    def restart(self) -> float: ...


class FaultTarget(Protocol):
    """What faults act on; the topology implements it."""

    @property
    def toxiproxy(self) -> ToxiproxyClient: ...

    def proxy_name(self, link: str) -> str: ...

    def service(self, name: str) -> Killable: ...


class Fault(Protocol):
    """A fault: ``start`` breaks something, ``heal`` undoes it and may be called at any time."""

    name: ClassVar[str]

    @property
    def params(self) -> Any: ...

    def start(self, target: FaultTarget) -> None: ...

    def heal(self, target: FaultTarget) -> None: ...


def describe(fault: Fault) -> dict[str, Any]:
    """The JSON form recorded in histories: ``{"fault": name, "params": {...}}``."""
    return {"fault": fault.name, "params": asdict(fault.params)}


@contextlib.contextmanager
def applied(fault: Fault, target: FaultTarget) -> Iterator[Fault]:
    """Start ``fault`` and heal it on the way out, whatever happens (even a failed start)."""
    try:
        fault.start(target)
        yield fault
    finally:
        fault.heal(target)
        log.info("fault_healed", **describe(fault))


@dataclass(frozen=True, slots=True)
class ToxicParams:
    """Parameters shared by every toxic: which link, which direction, what share of connections."""

    link: str
    stream: Stream = "downstream"
    toxicity: float = 1.0

    def __post_init__(self) -> None:
        if self.stream not in ("downstream", "upstream", "both"):
            raise ValueError(f"stream must be downstream, upstream or both, got {self.stream!r}")
        if not 0.0 <= self.toxicity <= 1.0:
            raise ValueError(f"toxicity must be within 0..1, got {self.toxicity}")


class ToxicFault:
    """A fault that is one Toxiproxy toxic (per direction) on one link's proxy."""

    name: ClassVar[str]
    toxic_type: ClassVar[str]

    def __init__(self, params: ToxicParams) -> None:
        self._params = params

    @property
    def params(self) -> ToxicParams:
        return self._params

    def attributes(self) -> dict[str, Any]:
        raise NotImplementedError

    def _streams(self) -> tuple[str, ...]:
        return ("downstream", "upstream") if self._params.stream == "both" else (self._params.stream,)

    def _toxic_name(self, stream: str) -> str:
        return f"harness-{self.name}-{stream}"

    def start(self, target: FaultTarget) -> None:
        proxy = target.proxy_name(self._params.link)
        for stream in self._streams():
            target.toxiproxy.add_toxic(proxy, self._toxic_name(stream), self.toxic_type, self.attributes(),
                                       stream=stream, toxicity=self._params.toxicity)

    def heal(self, target: FaultTarget) -> None:
        proxy = target.proxy_name(self._params.link)
        present = {t["name"] for t in target.toxiproxy.toxics(proxy)}
        for stream in self._streams():
            name = self._toxic_name(stream)
            if name in present:
                with contextlib.suppress(ToxiproxyError):  # raced with another heal: gone is healed
                    target.toxiproxy.remove_toxic(proxy, name)
