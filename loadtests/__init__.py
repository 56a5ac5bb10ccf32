"""Locust load scenarios against a real Mythos server (flood, alias amplification, capacity, chat fan-out).

The locustfiles (``flood.py``, ``alias_amplification.py``, ``capacity.py``, ``chat_fanout.py``)
are meant to be run by Locust in its own process (``harness load`` does that): importing
locust monkey-patches the interpreter with gevent. ``loadtests.config`` imports no locust and
is safe anywhere; importing this package starts nothing.
"""

__all__: list[str] = []
