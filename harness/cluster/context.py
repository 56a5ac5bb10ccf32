"""What a one-world workload gets from the run: the game servers' addresses, invites, their
environment, the shared database, the history, and when the chat workload ends.

A workload is ``async def workload(ctx: WorkloadContext) -> None``; it records what it does in
``ctx.history`` (:class:`harness.cluster.ops.W`) and returns. It is bounded twice: by its own
counts (rounds, samples) and by ``ctx.until`` plus its grace, so a hung server cannot hold
the run. The context is built from the live topology with :meth:`WorkloadContext.of`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.history import History

if TYPE_CHECKING:
    from harness.topology import Topology

__all__ = ["Server", "Workload", "WorkloadContext"]


@dataclass(frozen=True, slots=True)
class Server:
    """One game server as players reach it: its name and the URL of its client proxy."""

    index: int
    name: str
    url: str


@dataclass(frozen=True)
class WorkloadContext:
    history: History
    servers: Sequence[Server]
    until: float
    """History time at which the chat workload ends; a workload must not run much past it."""
    take_invite: Callable[[int], str]
    """An unused invite code of game server ``index`` (each server has its own invite file)."""
    env: Mapping[str, str] = field(default_factory=dict)
    """The environment every game server runs with beyond the contract's (the scenario's settings)."""
    query: Callable[[str], Any] | None = None
    """Run one SQL statement on the shared database, return the first column of its first row
    (blocking: call it in a worker thread); None without a shared database."""

    @classmethod
    def of(cls, topology: Topology, history: History, until: float) -> WorkloadContext:
        from harness.topology import shared_env

        servers = [Server(i, server.name, topology.client_url(i)) for i, server in enumerate(topology.mythos)]
        postgres = topology.postgres
        return cls(history=history, servers=servers, until=until,
                   take_invite=lambda index: topology.mythos[index].take_invite(),
                   env={**shared_env(topology.spec), **topology.spec.mythos_env},
                   query=None if postgres is None else (lambda sql: postgres.execute(sql)))

    def setting(self, name: str) -> str:
        """A setting the scenario must state for its workload to mean anything (the rate budget)."""
        if name not in self.env:
            raise KeyError(f"the scenario sets no {name} for its game servers; the workload needs it")
        return self.env[name]

    def remaining(self) -> float:
        return self.until - self.history.now()


Workload = Callable[[WorkloadContext], Awaitable[None]]
