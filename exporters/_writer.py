"""Buffered, periodic file writing shared by the three JSON exporters.

An OTel batch processor may call ``export()`` hundreds of times a second under
load. Rewriting a 10,000-trace file each time would make the exporter the
bottleneck and fill the SDK's queues, so ``export()`` only merges the batch
into a bounded in-memory buffer (the newest records the file could keep
anyway); a daemon thread writes the buffer into the file at most once per
``export_interval_s``, and ``force_flush()``/``shutdown()`` write at once.

The feeds file items one at a time from the application's threads
(``files_items``): they go into an inbox (``monitoring_layer._inbox``) without a
lock, and the same thread adds them to the buffer, woken every few hundred
items. The application's threads take the buffer lock only if that thread falls
``RECORDER_DRAIN_AT`` items behind, so a SIGTERM handler (it runs in the main
thread, between two bytecodes) almost never finds the lock held by the thread it
interrupted.

A failed write (disk full, read-only disk, permissions) keeps the buffer
(bounded as ever) and backs off: the next attempt waits twice as long, up to
``MAX_BACKOFF_S``, so a disk fault does not make every interval re-read, merge
and serialise the whole file only to fail again. ``flush()`` during a back-off
returns False at once; a successful write resets it.

Fork safety: the child of a pre-forking server starts with an empty buffer
(its parent writes its own records) and its own writer thread.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import Any

from opentelemetry import context as otel_context

from monitoring_layer import _compat, _lifecycle, _selfmon
from monitoring_layer._inbox import DRAIN_AT, Inbox

from ._store import JsonFileStore

__all__ = ["BUFFER_LOCK_WAIT_S", "BufferedFileWriter", "MAX_BACKOFF_S"]

#: The longest wait between two attempts to write a file that keeps failing.
MAX_BACKOFF_S = 60.0
#: The longest a write waits for its exporter's buffer lock. The lock is held to apply a batch of
#: filed spans or records (a few hundred dict operations: by the writer thread, or by an application's
#: thread when the writer falls behind), so a longer wait means its holder cannot go on: the main
#: thread, interrupted inside it by a signal whose handler waits for this very flush (SIGTERM). That file is then not written (counted as an ``export``
#: fault); the flush goes on with the other files instead of hanging until the handler gives up.
BUFFER_LOCK_WAIT_S = 1.0
#: Items filed and not yet in the buffer before a recording thread adds them itself (the writer
#: thread, woken at every ``DRAIN_AT``, fell behind); below it only the writer takes the lock.
RECORDER_DRAIN_AT = 4_096


class BufferedFileWriter:
    """Mixin for an exporter whose records are merged into one ``JsonFileStore``.

    Subclasses implement ``_take_pending() -> pending | None`` (detach the
    buffer), ``_restore_pending(pending)`` (put it back after a failed write),
    ``_merge(doc, pending) -> doc`` (apply retention there) and
    ``_reset_pending()`` (empty buffer, used after fork). One that files items
    one at a time from the application's threads (the feeds) sets ``files_items``
    and implements ``_absorb(items)``: ``_file(item)`` puts an item in an inbox
    (``monitoring_layer._inbox``: no lock on the recording path) and ``_absorb``
    adds a batch of them to the buffer, holding the buffer lock.
    """

    signal = "unknown"
    files_items = False

    def _init_writer(self, store: JsonFileStore, interval_s: float) -> None:
        self._store = store
        self._interval_s = interval_s
        self._new_buffer_lock()  # guards the subclass's buffer (and applies the inbox)
        self._write_lock = threading.Lock()   # one write at a time
        self._start_lock = threading.Lock()   # one writer thread
        self._wake = threading.Event()
        self._stopped = False
        self._dirty = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._failures = 0         # consecutive failed writes
        self._retry_at = 0.0       # monotonic time before which no write is attempted
        _WRITERS.add(self)

    def _new_buffer_lock(self) -> None:
        # Filed items are added to the buffer by the writer thread, woken every DRAIN_AT of them: the
        # application's threads, the main one above all (where a SIGTERM handler flushes), then
        # hold the buffer lock only if the writer falls RECORDER_DRAIN_AT items behind.
        self._inbox = Inbox(self._absorb, self.signal, drain_at=RECORDER_DRAIN_AT,
                            notify=self._inbox_filling, notify_at=DRAIN_AT) if self.files_items else None
        self._buffer_lock = self._inbox.lock if self._inbox is not None else threading.Lock()

    def _inbox_filling(self) -> None:
        self._wake.set()

    def _apply_inbox(self) -> None:
        """Add the filed items to the buffer (the writer thread, between writes)."""
        if self._inbox is not None and len(self._inbox):
            with self._buffer_lock:
                self._inbox.drain()

    # -- called by subclasses --------------------------------------------------

    def _file(self, item: Any) -> None:
        """File one item from an application thread: no lock, unless a batch is due (see ``Inbox``)."""
        self._inbox.put(item)  # type: ignore[union-attr]  # set when files_items
        if self._thread is None:
            self._mark_dirty()

    def _has_news(self) -> bool:
        """Something to write: a buffer changed since the last write, or items wait in the inbox."""
        return self._dirty or bool(self._inbox)

    def _mark_dirty(self) -> None:
        self._dirty = True
        if self._thread is None and not self._stopped:
            self._start_thread()

    # -- OTel exporter protocol ----------------------------------------------

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        return self.write_now(timeout_millis / 1000)

    def shutdown(self, timeout_millis: float = 30_000, **_: Any) -> None:
        if self._stopped:
            return
        # Stopped before the last write, not after: an item filed from here on is counted as
        # ``already_shutdown`` by the filing call, instead of landing in the inbox after the
        # write's drain, where nothing would write or count it.
        self._stopped = True
        self._retry_at = 0.0  # the last chance: try even during a back-off
        self.write_now(timeout_millis / 1000)
        self._wake.set()

    # -- writing --------------------------------------------------------------

    def write_now(self, timeout_s: float | None = None) -> bool:
        """Merge the buffer into the file now. Returns False if the write failed or is backing off.

        ``timeout_s`` bounds the wait for the write lock and the file lock; the buffer lock
        is waited for at most ``BUFFER_LOCK_WAIT_S`` (False past it: see there).
        """
        if self._failures and time.monotonic() < self._retry_at:
            return False  # backing off after a failed write: the buffer is kept
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        if deadline is None:
            self._write_lock.acquire()
        elif not self._write_lock.acquire(timeout=max(0.0, timeout_s or 0.0)):
            return False
        try:
            wait = BUFFER_LOCK_WAIT_S if deadline is None else min(BUFFER_LOCK_WAIT_S,
                                                                     max(0.0, deadline - time.monotonic()))
            if not self._buffer_lock.acquire(timeout=wait):
                _selfmon.fault("export", f"{self.signal} buffer still locked after {wait:.1f} s (a thread "
                               "interrupted while filing a record?): this write is skipped",
                               key=f"{self.signal} buffer lock", strict=False)
                return False
            try:
                if self._inbox is not None:
                    self._inbox.drain()
                pending = self._take_pending()
                self._dirty = False
            finally:
                self._buffer_lock.release()
            if pending is None:
                return True
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                self._store.update(lambda doc: self._merge(doc, pending), timeout_s=remaining)
            except Exception as exc:  # noqa: BLE001 - disk full, permissions, lock timeout...
                with self._buffer_lock:
                    self._restore_pending(pending)
                    self._dirty = True
                if not isinstance(exc, TimeoutError):
                    self._failures += 1
                    self._retry_at = time.monotonic() + min(
                        MAX_BACKOFF_S, self._interval_s * 2 ** min(self._failures - 1, 16))
                _selfmon.fault("export", exc, key=f"{self.signal} file {self._store.path}")
                return False
            self._failures = 0
            return True
        finally:
            self._write_lock.release()

    def _start_thread(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            ref = weakref.ref(self)
            thread = threading.Thread(
                target=_run, args=(ref, self._wake, self._interval_s),
                name=f"monitoring-layer-{self.signal}-writer", daemon=True,
            )
            self._thread = thread
        thread.start()

    def _after_fork(self) -> None:
        self._new_buffer_lock()
        self._write_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None
        self._dirty = False
        self._pid = os.getpid()
        self._failures = 0
        self._retry_at = 0.0
        self._reset_pending()

    # -- for subclasses ---------------------------------------------------------

    def _take_pending(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _restore_pending(self, pending: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _reset_pending(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _merge(self, doc: dict[str, Any], pending: Any) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    def _absorb(self, items: list[Any]) -> None:  # pragma: no cover - abstract, when files_items
        raise NotImplementedError


def _run(ref: weakref.ref[BufferedFileWriter], wake: threading.Event, interval_s: float) -> None:
    # Holds only a weak reference between rounds, so an exporter nobody uses
    # any more is collected and its thread ends. The thread may be started by a span
    # ending or a record emitted (the feeds): its writes are no part of that trace.
    # Woken at each interval, at shutdown, and by the inbox (items to add to the buffer).
    otel_context.attach(_compat.quiet_context())
    clock = time.monotonic
    write_at = clock() + interval_s
    while True:
        wake.wait(max(0.0, write_at - clock()))
        wake.clear()  # before the work: a wake during it is seen at the next wait
        writer = ref()
        if writer is None or writer._wake is not wake:  # collected, or replaced after fork
            return
        if not writer._stopped:
            try:
                writer._apply_inbox()
            except Exception as exc:  # noqa: BLE001 - the thread must live on
                _selfmon.fault("export", exc, key=f"{writer.signal} inbox")
        if writer._stopped or clock() >= write_at:
            if writer._has_news():
                writer.write_now()
            else:  # idle: do not hold a file another process has replaced (its disk space)
                writer._store.let_go_if_replaced()
            write_at = clock() + interval_s
        if writer._stopped:
            return
        del writer


_WRITERS: weakref.WeakSet[BufferedFileWriter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for writer in list(_WRITERS):
        writer._after_fork()


_lifecycle.register("file writers", after_fork_child=_after_fork_in_child)
