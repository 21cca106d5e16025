"""Process-wide instances built on first use: the pipeline and the facades' ``get_*()``.

``ProcessWide(build)`` builds its value once, on the first ``get()``, under a
lock (double-checked, so later calls take no lock). A forked child keeps the
value (the pipeline and facades renew their own threads and locks) but gets a
new lock, in case another thread held it at fork time.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from monitoring_layer import _lifecycle

__all__ = ["ProcessWide"]

T = TypeVar("T")


class ProcessWide(Generic[T]):
    """One value per process, built by ``build()`` on first use."""

    def __init__(self, build: Callable[[], T] | None, *, close: Callable[[T], None] | None = None,
                 what: str = "this process-wide instance") -> None:
        self._build = build
        self._what = what
        self._close = close
        self._value: T | None = None
        self._lock = threading.Lock()
        _ALL.add(self)

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    if self._build is None:
                        raise RuntimeError(f"{self._what} has no builder: monitoring_layer._defaults installs "
                                           "it when the package is imported")
                    self._value = self._build()
                value = self._value
        return value

    def set_build(self, build: Callable[[], T]) -> None:
        """Install the builder (the top layer does it: facades never import the pipeline)."""
        self._build = build

    def peek(self) -> T | None:
        """The value if it was built, without building it."""
        return self._value

    def replace(self, value: T | None) -> T | None:
        """Put ``value`` in place (None: build anew on next use); returns the old one, closed.

        For tests and for tools that run several isolated setups in one process.
        """
        with self._lock:
            old, self._value = self._value, value
        if old is not None and old is not value and self._close is not None:
            self._close(old)
        return old


_ALL: weakref.WeakSet[ProcessWide] = weakref.WeakSet()  # type: ignore[type-arg]


def _after_fork_in_child() -> None:
    for holder in list(_ALL):
        holder._lock = threading.Lock()


_lifecycle.register("process-wide instances", after_fork_child=_after_fork_in_child)
