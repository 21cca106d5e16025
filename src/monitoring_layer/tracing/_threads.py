"""Carry the OTel context into threads: ``Thread.start`` and ``ThreadPoolExecutor.submit``.

A new thread starts with an empty ``contextvars`` context, so a span started
in a worker thread would begin a new trace. ``install()`` patches, once per
process:

* ``threading.Thread.start``: the OTel context current in the starting thread
  is attached for the thread's ``run()`` (nothing is done when it is empty);
* ``concurrent.futures.ThreadPoolExecutor.submit``: the context current at
  submit is attached while the task runs (pool threads are reused, so the
  context of the thread's start is not enough). ``loop.run_in_executor``
  goes through ``submit`` too.

Only the OTel context is carried (the current span and baggage), not other
context variables: the same choice as opentelemetry-instrumentation-threading,
which works alongside (its wrapper and ours nest harmlessly).
"""

from __future__ import annotations

import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from opentelemetry import context as otel_context

__all__ = ["install", "installed", "uninstall"]

_lock = threading.Lock()
_originals: dict[str, Any] = {}


def installed() -> bool:
    return bool(_originals)


def install() -> None:
    """Patch ``Thread.start`` and ``ThreadPoolExecutor.submit`` (idempotent)."""
    with _lock:
        if _originals:
            return
        start = _originals["start"] = threading.Thread.start
        submit = _originals["submit"] = ThreadPoolExecutor.submit

        # Closures over the originals: a call in flight during uninstall() still finds its original.
        def start_in_context(self: threading.Thread) -> None:
            _carry_into_run(self)
            start(self)

        def submit_in_context(self: ThreadPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            # Always wrapped, even with an empty context: a pool thread started inside some
            # trace must not lend that trace to tasks submitted outside it.
            return submit(self, functools.partial(_run_in, otel_context.get_current(), fn), *args, **kwargs)

        threading.Thread.start = start_in_context  # type: ignore[method-assign]
        ThreadPoolExecutor.submit = submit_in_context  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    """Restore the originals (tests, or a host that wants none of it)."""
    with _lock:
        if not _originals:
            return
        threading.Thread.start = _originals.pop("start")  # type: ignore[method-assign]
        ThreadPoolExecutor.submit = _originals.pop("submit")  # type: ignore[method-assign]


def _carry_into_run(thread: threading.Thread) -> None:
    ctx = otel_context.get_current()
    if not ctx:  # an empty Context (a dict) outside any trace: nothing to carry, nothing to pay
        return
    run = thread.run

    def run_in_context() -> None:
        token = otel_context.attach(ctx)
        try:
            run()
        finally:
            otel_context.detach(token)
            thread.__dict__.pop("run", None)  # break the thread -> closure -> thread cycle

    # An instance attribute: works for subclasses that override run() too.
    thread.run = run_in_context  # type: ignore[method-assign]


def _run_in(ctx: otel_context.Context, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
    token = otel_context.attach(ctx)
    try:
        return fn(*args, **kwargs)
    finally:
        otel_context.detach(token)
