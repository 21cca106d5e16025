"""``Inbox``: items filed by many threads without a lock, applied in order by one thread at a time.

Why: the trace store and each JSON file's buffer were guarded by a ``threading.Lock``
that every recording thread took for each span or record. Under the GIL that lock
convoys: a thread holding it when the interpreter switches away makes each other
recording thread block on it, and every block and wake-up is a GIL hand-off. With
8 threads recording spans, the two locks cost about 40-50 µs per span each,
against about 5 µs with one thread (docs/benchmarks.md, step 19).

An inbox takes the lock off the recording path:

* ``put(item)`` appends to a ``collections.deque`` (one atomic operation under
  the GIL: no lock, no hand-off);
* once ``drain_at`` items wait, the thread that filed the last one tries the
  lock *without waiting*: if it gets it, it applies every waiting item, in the
  order they were filed, in one call (``apply(items)``); if another thread holds
  it, it goes on, and the holder or a later ``put`` applies them;
* a reader (a query, the file writer) takes the lock and calls ``drain()`` first,
  so it sees every item filed before it.

An owner with a thread of its own (a file's writer) passes ``notify``: once
``notify_at`` items wait, the put that filed the last one calls it (once until
the next drain), and that thread applies them. The recording threads then apply
items themselves only past ``drain_at`` (the owner's thread fell behind), so
they almost never hold the lock. That matters for the main thread: a signal
handler runs in it, between two bytecodes, and one that flushes at SIGTERM
would otherwise find the lock held by the very thread it interrupted.

Contained: ``apply`` contains its faults per item where one can happen. A fault that still
escapes it (a bug) loses that batch: its items are counted under ``(signal, "batch_fault")``
and the fault under ``errors{kind=fault_kind}``, and it never reaches the recording thread
whose put applied the batch (under ``MONITORING_STRICT`` it is raised, for test suites).

Bounded: past ``wait_at`` waiting items (the lock's holder is not getting to run)
a ``put`` waits for the lock, at most ``WAIT_S``; past that the item is dropped and
counted under ``(signal, "queue_full")``. A thread that holds the lock and never
returns (the main thread interrupted by a signal whose handler records) so costs
a counted drop, never a hang.

The order is the order of the appends, so causality holds: a span started in one
thread before a child starts in another is applied first.

Layer: internal helpers (imports ``_selfmon`` and ``_gcpace`` only).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from monitoring_layer import _gcpace, _selfmon

__all__ = ["DRAIN_AT", "Inbox", "WAIT_AT", "WAIT_S"]

#: Items waiting before a ``put`` tries to apply them (a few hundred: the lock is taken once per batch).
DRAIN_AT = 256
#: Items waiting before a ``put`` waits for the lock (the inbox's bound).
WAIT_AT = 16_384
#: The longest a ``put`` over ``WAIT_AT`` waits for the lock before it drops its item.
WAIT_S = 1.0


class Inbox:
    """Items filed without a lock, applied in batches under ``lock`` by ``apply(list_of_items)``.

    ``apply`` runs holding ``lock``; it must contain its own faults per item where
    a fault can happen (one out of it loses that batch, counted: see the module's
    text). ``signal`` names the ``queue_full`` and ``batch_fault`` drop counts,
    ``fault_kind`` the error count of a fault out of ``apply``.
    """

    __slots__ = ("lock", "_items", "_apply", "_drop", "_fault_kind", "drain_at", "wait_at", "_notify",
                 "notify_at", "_notified")

    def __init__(self, apply: Callable[[list[Any]], None], signal: str, *, fault_kind: str = "export",
                 drain_at: int = DRAIN_AT, wait_at: int = WAIT_AT,
                 notify: Callable[[], None] | None = None, notify_at: int = DRAIN_AT) -> None:
        if not 0 < drain_at <= wait_at:
            raise ValueError(f"drain_at must be > 0 and <= wait_at, got {drain_at!r} and {wait_at!r}")
        if notify is not None and not 0 < notify_at < drain_at:
            raise ValueError(f"notify_at must be > 0 and < drain_at, got {notify_at!r} and {drain_at!r}")
        if not {(signal, "queue_full"), (signal, "batch_fault")} <= set(_selfmon.KNOWN_DROPS):
            raise ValueError(f"signal must have queue_full and batch_fault drop counts, got {signal!r}")
        if fault_kind not in _selfmon.KNOWN_ERROR_KINDS:
            raise ValueError(f"fault_kind must be a known error kind, got {fault_kind!r}")
        self.lock = threading.Lock()
        self._items: deque[Any] = deque()
        self._apply = apply
        self._drop = signal
        self._fault_kind = fault_kind
        self.drain_at = drain_at
        self.wait_at = wait_at
        self._notify = notify
        self.notify_at = notify_at if notify is not None else drain_at
        self._notified = False

    def put(self, item: Any) -> None:
        """File ``item`` (no lock); past ``notify_at`` waiting items tell the owner's thread, past
        ``drain_at`` apply them here if the lock is free."""
        items = self._items
        items.append(item)
        if len(items) >= self.notify_at:
            if len(items) >= self.drain_at:
                self._drain_if_free(len(items))
            elif not self._notified:
                self._notified = True  # a race may notify twice: harmless
                self._notify()  # type: ignore[misc]  # set whenever notify_at < drain_at

    def _drain_if_free(self, waiting: int) -> None:
        lock = self.lock
        if waiting < self.wait_at:
            if not lock.acquire(blocking=False):
                return  # the holder, or a later put, applies them
        elif not lock.acquire(timeout=WAIT_S):
            try:
                self._items.pop()  # the newest: this put's own item, unless another thread filed since
            except IndexError:
                return
            _selfmon.dropped(self._drop, "queue_full")
            return
        try:
            self.drain()
        finally:
            lock.release()

    def drain(self) -> None:
        """Apply every item filed so far. The caller holds ``lock``."""
        items = self._items
        self._notified = False
        n = len(items)
        if n:
            pop = items.popleft  # atomic: a put racing with this appends at the other end
            batch = []
            try:
                for _ in range(n):
                    batch.append(pop())
            except IndexError:  # a put past its bound dropped one at the other end meanwhile (no lock)
                pass
            try:
                self._apply(batch)
            except Exception as exc:  # noqa: BLE001 - a bug in apply: count what it may have lost
                _selfmon.dropped(self._drop, "batch_fault", n)
                _selfmon.fault(self._fault_kind, exc, key=f"{self._drop} inbox")
            try:
                _gcpace.kept(n)
            except Exception as exc:  # noqa: BLE001 - the batch is applied: nothing lost, the fault counted
                _selfmon.fault(self._fault_kind, exc, key="gc pace")

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        """Forget every waiting item (a store's ``clear()``; the caller holds ``lock``)."""
        self._items.clear()
