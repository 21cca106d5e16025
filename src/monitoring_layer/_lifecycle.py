"""One registry for what every component must do after fork, at flush and at shutdown.

Components register hooks once (``register(name, after_fork_child=..., flush=...,
shutdown=...)``) and get back a function that unregisters them; nothing else in
the package calls ``os.register_at_fork``. Hooks run in registration order for
fork and flush, and in reverse order for shutdown (what started last stops
first). A hook's fault is contained and counted (``kind="lifecycle"``), never
stops the other hooks, and never reaches the host application.

Components are held weakly when they are bound methods of an object, so a
registry entry never keeps a stopped component alive.

``install_exit_flush(flush)`` makes sure what was recorded reaches the exporters
however the process ends: at interpreter exit (``atexit``), on ``SIGTERM`` (how
Kubernetes, Docker and systemd stop a process: the flush runs, then any handler
the application installed, else the default action, so the process still ends
as it would have), and in ``multiprocessing`` workers, which leave through
``os._exit`` and skip ``atexit`` (a ``multiprocessing.util.Finalize`` runs there).

A SIGTERM that arrives while the main thread is itself flushing (``flushing()``
marks it: ``monitoring_layer.flush()``, ``shutdown()``, the exit flush) waits for
that flush to end: the interrupted flush may hold a lock the handler's flush needs
(an OTel metric reader's export lock), so a second flush would wait for it until
the handler gave up, and the process would end with neither flush done. This
happens whenever ``multiprocessing.Pool.terminate()`` (``with Pool(...)``)
signals workers that are in their exit flush.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from monitoring_layer import _selfmon

__all__ = ["flushing", "install_exit_flush", "register", "run_after_fork_child", "run_before_flush", "run_flush",
           "run_shutdown"]

Hook = Callable[[], Any]


@dataclass(slots=True)
class _Entry:
    name: str
    after_fork_child: Callable[[], Hook | None] | None
    before_flush: Callable[[], Hook | None] | None
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
    before_flush: Hook | None = None,
    flush: Hook | None = None,
    shutdown: Hook | None = None,
) -> Callable[[], None]:
    """Register a component's hooks; returns a function that removes them.

    ``before_flush`` runs at ``monitoring_layer.flush()`` before the export (record what
    you hold back); ``flush`` after it (write your own files, drain what you send).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, not {name!r}")
    for arg, hook in (("after_fork_child", after_fork_child), ("before_flush", before_flush), ("flush", flush),
                      ("shutdown", shutdown)):
        if hook is not None and not callable(hook):
            raise TypeError(f"{arg} must be callable, not {type(hook).__name__}")
    entry = _Entry(name, _ref(after_fork_child), _ref(before_flush), _ref(flush), _ref(shutdown))
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


def run_before_flush() -> None:
    """Run every ``before_flush`` hook, in registration order."""
    _run("before_flush")


def run_flush() -> None:
    """Run every ``flush`` hook, in registration order."""
    _run("flush")


def run_shutdown() -> None:
    """Run every ``shutdown`` hook, newest first."""
    _run("shutdown", reverse=True)


# --------------------------------------------------------------------------- process exit

_exit_flush: Callable[[], Any] | None = None
_previous_sigterm: Any = None
_sigterm_installed = False
_main_flushes = 0  # flushes running on the main thread, where signal handlers run
_deferred_sigterm: tuple[int, Any] | None = None  # a SIGTERM that arrived during one of them


@contextmanager
def flushing() -> Iterator[None]:
    """Mark a flush or shutdown running on this thread (see the module's text).

    On the main thread, a SIGTERM arriving inside the block is handled when the
    outermost such block ends, not in the middle of it.
    """
    global _main_flushes, _deferred_sigterm
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _main_flushes += 1
    try:
        yield
    finally:
        _main_flushes -= 1
        deferred = _deferred_sigterm
        if _main_flushes == 0 and deferred is not None:
            _deferred_sigterm = None
            _on_sigterm(*deferred)  # flushes what was recorded meanwhile, then ends the process


def install_exit_flush(flush: Hook, *, sigterm: bool = True) -> None:
    """Run ``flush()`` (once per way out) at exit, on SIGTERM and in multiprocessing workers.

    Idempotent: the last ``flush`` given is the one that runs. The SIGTERM handler is
    installed only from the main thread and only over the default action or a Python
    handler (which it then calls); an ignored SIGTERM stays ignored.
    """
    global _exit_flush
    if not callable(flush):
        raise TypeError(f"flush must be callable, not {type(flush).__name__}")
    first = _exit_flush is None
    _exit_flush = flush
    if first:
        atexit.register(_flush_once, "atexit")
        _register_multiprocessing_finalizer()
    if sigterm:
        _install_sigterm()


def _flush_once(why: str) -> None:
    flush = _exit_flush
    if flush is None:
        return
    try:
        with flushing():
            flush()
    except Exception as exc:  # noqa: BLE001 - exiting: report, never raise
        _selfmon.fault("shutdown", exc, key=why, strict=False)


def _install_sigterm() -> None:
    global _previous_sigterm, _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    try:
        previous = signal.getsignal(signal.SIGTERM)
    except (ValueError, AttributeError):  # no SIGTERM on this platform
        return
    if previous is signal.SIG_IGN or previous is None:
        return  # the application chose to ignore it (or it was set from C): leave it alone
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread of the main interpreter
        return
    _previous_sigterm = previous
    _sigterm_installed = True


#: How long the SIGTERM handler waits for the flush (Kubernetes grants 30 s by default).
SIGTERM_FLUSH_TIMEOUT_S = 10.0


def _on_sigterm(signum: int, frame: Any) -> None:
    global _deferred_sigterm
    if _main_flushes:
        # The main thread was flushing: let that flush finish (it may hold a lock a second
        # flush would wait on); its end calls this handler again.
        _deferred_sigterm = (signum, frame)
        return
    # The flush runs on its own thread: the signal may have interrupted the main thread
    # while it held a lock the flush needs, and waiting on it here would hang the exit.
    flusher = threading.Thread(target=_flush_once, args=("SIGTERM",), name="monitoring-layer-sigterm-flush",
                               daemon=True)
    flusher.start()
    flusher.join(SIGTERM_FLUSH_TIMEOUT_S)
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
        return
    # The default action: end the process as SIGTERM would have (exit status 128+15 to
    # a shell, "killed by signal 15" to a parent), after the flush above.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _register_multiprocessing_finalizer() -> None:
    import multiprocessing
    import multiprocessing.util as mp_util

    def in_worker(_obj: object = None) -> None:
        # Runs in a forked worker (register_after_fork), or now in a spawned one.
        mp_util.Finalize(None, _flush_once, args=("multiprocessing",), exitpriority=100)

    if multiprocessing.parent_process() is not None:
        in_worker()
    mp_util.register_after_fork(_exit_flush_token, in_worker)


class _Token:
    """A weak-referenceable object for ``multiprocessing.util.register_after_fork``."""


_exit_flush_token = _Token()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=run_after_fork_child)
