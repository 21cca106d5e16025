"""One registry for what every component must do after fork, at flush and at shutdown.

Components register hooks once (``register(name, after_fork_child=..., flush=...,
shutdown=...)``) and get back a function that unregisters them; nothing else in
the package calls ``os.register_at_fork``. Hooks run in registration order for
fork and flush, and in reverse order for shutdown (what started last stops
first). A hook's fault is contained and counted (``kind="lifecycle"``), never
stops the other hooks, and never reaches the host application.

Components are held weakly when they are bound methods of an object, so a
registry entry never keeps a stopped component alive.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from monitoring_layer import _selfmon

__all__ = ["register", "run_after_fork_child", "run_flush", "run_shutdown"]

Hook = Callable[[], Any]


@dataclass(slots=True)
class _Entry:
    name: str
    after_fork_child: Callable[[], Hook | None] | None
    flush: Callable[[], Hook | None] | None
    shutdown: Callable[[], Hook | None] | None


_lock = threading.Lock()
_entries: list[_Entry] = []


def _ref(hook: Hook | None) -> Callable[[], Hook | None] | None:
    if hook is None:
        return None
    if hasattr(hook, "__self__") and hasattr(hook, "__func__"):
        return weakref.WeakMethod(hook)  # type: ignore[arg-type]
    return lambda: hook


def register(
    name: str,
    *,
    after_fork_child: Hook | None = None,
    flush: Hook | None = None,
    shutdown: Hook | None = None,
) -> Callable[[], None]:
    """Register a component's hooks; returns a function that removes them."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, not {name!r}")
    for arg, hook in (("after_fork_child", after_fork_child), ("flush", flush), ("shutdown", shutdown)):
        if hook is not None and not callable(hook):
            raise TypeError(f"{arg} must be callable, not {type(hook).__name__}")
    entry = _Entry(name, _ref(after_fork_child), _ref(flush), _ref(shutdown))
    with _lock:
        _entries.append(entry)

    def unregister() -> None:
        with _lock:
            if entry in _entries:
                _entries.remove(entry)

    return unregister


def _run(attribute: str, reverse: bool = False) -> None:
    with _lock:
        entries = list(reversed(_entries) if reverse else _entries)
    for entry in entries:
        get = getattr(entry, attribute)
        hook = get() if get is not None else None
        if hook is None:
            continue
        try:
            hook()
        except Exception as exc:  # noqa: BLE001 - one component's hook must not skip the others
            _selfmon.fault("lifecycle", exc, key=f"{entry.name} {attribute}", strict=False)


def run_after_fork_child() -> None:
    """Run every ``after_fork_child`` hook (called in a forked child)."""
    global _lock
    _lock = threading.Lock()  # another thread may have held it at fork time
    _selfmon.after_fork_in_child()  # first: every other hook may count a fault
    _run("after_fork_child")


def run_flush() -> None:
    """Run every ``flush`` hook, in registration order."""
    _run("flush")


def run_shutdown() -> None:
    """Run every ``shutdown`` hook, newest first."""
    _run("shutdown", reverse=True)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=run_after_fork_child)
