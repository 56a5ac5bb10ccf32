"""The one-world measurements of the cluster suite: several game servers, one database, one NATS cluster.

Workloads run beside a chaos scenario's chatting players and record what they do in its history
(:mod:`harness.cluster.ops`): split logins and cross-server evictions (:mod:`.logins`), alias
changes seen through another server (:mod:`.aliases`), a command flood that switches servers
(:mod:`.rate`), players walking through a database outage (:mod:`.rooms`); a scenario names
them in ``ChaosTest.workloads`` (table: :mod:`.workloads`). Their checkers (:mod:`.checks`) are
pure functions of the saved history, and :mod:`.kpis` turns the checkers' sections into the
catalogue's ``double_sessions``, ``cross_server_eviction_s`` and ``alias_propagation_ms``.
:class:`.failover_player.FailoverPlayer` is the chatting player that fails over to another server.

Importing the package does no work; submodules are imported explicitly.
"""

__all__: list[str] = []
