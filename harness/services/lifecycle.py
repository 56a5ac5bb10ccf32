"""``with service:`` for every harness service: started on entry, released on exit.

A start that fails half-way may already have a process running or a scratch directory made, so
entry releases what it started before re-raising: a failed ``with`` leaves nothing behind.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["Managed"]


class Managed:
    """Mixin: ``start()`` on ``__enter__``; ``release()`` on ``__exit__`` and after a failed start.

    ``release()`` is ``stop()`` unless a service also owns files to remove (``close()``)."""

    def start(self) -> object:
        raise NotImplementedError

    def stop(self) -> object:
        raise NotImplementedError

    def release(self) -> None:
        self.stop()

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.release()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
