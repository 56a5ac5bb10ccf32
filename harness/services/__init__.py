"""The system under test as real local processes, each a context manager that stops by PID.

Modules: ``process`` (the shared start / health-wait / stop machinery), ``lifecycle`` (``with``
for every service, releasing a half-started one), ``nats``, ``toxiproxy``
and ``mythos``. Importing this package starts nothing.
"""

__all__: list[str] = []
