"""The nemesis's fault vocabulary: one module per fault, looked up by name in ``registry``.

Every fault has a typed, frozen dataclass of parameters (also its JSON form), ``start`` and
``heal``; ``heal`` is idempotent and :func:`harness.faults.base.applied` runs it even when the
scenario fails. Importing this package registers nothing and starts nothing.
"""

__all__: list[str] = []
