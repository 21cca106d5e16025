"""``TraceStore``: a bounded in-memory index of spans, fed as a ``SpanProcessor``.

Added to the TracerProvider, it sees every span of the process (the facade's
and any OTel instrumentation's): started spans are *active*, ended ones are
kept grouped by trace. The queries of the tracing collector read it; the
JSON file is written by the exporter, not from here.

Bounds (from the settings, each counted in ``monitoring_layer_dropped_total``):

* ``max_traces`` traces, oldest first out (``traces/memory_max_traces``);
* ``max_spans_per_trace`` ended spans per trace (``spans/memory_max_spans_per_trace``);
* ``max_active_spans`` spans tracked as active; beyond it the oldest are
  forgotten by the index, a tenth of the bound at a time
  (``spans/memory_max_active``), not ended: ending spans is the facade's
  business, and only for the spans it started;
* traces that ended more than ``retention_days`` ago are left out of queries
  and purged.

The hot path (``on_start``/``on_end``) takes no lock: it files the started span,
or the ended span's compact record, in an ``Inbox`` (``monitoring_layer._inbox``).
Every few dozen items (``STORE_DRAIN_AT``) one recording thread that finds the lock
free applies them, in the order filed, under the lock; each read applies what waits first, so
it sees every span started or ended before it. With many recording threads a
lock taken per span convoyed under the GIL (docs/benchmarks.md, step 19).

A trace is kept in one of three shapes: its running local root ``Span`` alone (a
new trace, until a second span starts: most traces of a busy service are one span
long), a ``_Trace`` (spans running, or a late span), or a ``_Frozen`` tuple (done).
An ended span is kept as a compact record (``monitoring_layer._spanrec``: one
tuple the garbage collector stops tracking), not as the SDK's object graph, so
a full store does not lengthen the host's garbage collections. Records become
dicts only when queried. Oldest-first eviction pops the front of an
``OrderedDict`` (constant time; a plain dict would walk its deleted slots).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from monitoring_layer import _lifecycle, _selfmon
from monitoring_layer._inbox import Inbox
from monitoring_layer._spanrec import (
    F_END,
    F_PARENT_ID,
    F_PARENT_REMOTE,
    F_SPAN_ID,
    F_START,
    F_STATUS,
    F_TRACE_ID,
    SpanRecord,
    record_of,
    record_of_active,
)

__all__ = ["TraceStore", "TraceSnapshot"]

_NS_PER_DAY = 86_400 * 1_000_000_000
#: Items filed before a recording thread applies them: a few dozen, for the garbage collector's sake.
#: A started span waits in the inbox as the SDK's ``Span`` (a dozen tracked objects with its
#: attributes), so those objects live until its batch is applied, not until the span ends. The
#: collector runs its youngest collection every 700 allocations not yet freed, and a free after a
#: collection does not lower the count: with batches of 256 items the spans waiting in one batch
#: counted several thousand objects, a young collection ran every ~70 spans and a full one (27-60 ms
#: here) twice a second. With 32 the objects of a batch are freed before they reach the threshold:
#: a fifth of the young collections, a tenth of the full ones (docs/benchmarks.md, step 25). The
#: lock is still taken once per batch and never waited for (``Inbox``).
STORE_DRAIN_AT = 32


#: A trace whose local root ended and that has no span running: ``(root record, complete, error,
#: start_ns, end_ns, dropped_spans, *ended records)``, a tuple of atoms and records that the garbage
#: collector stops tracking (most of a full store). Flat, not nested: a collection untracks one level
#: of tuples per pass (it reorders what it scans), and what is still tracked after two young
#: collections waits in the oldest generation for a full one, rarer since ``STORE_DRAIN_AT``. A
#: record ends with its attributes' keys and values (``_spanrec``): two levels in all. A late span
#: turns it back into a ``_Trace``.
_Frozen = tuple


class _Trace:
    __slots__ = ("active", "ended", "root", "complete", "error", "start_ns", "end_ns", "dropped_spans")

    @classmethod
    def thaw(cls, frozen: _Frozen) -> _Trace:
        entry = cls()
        entry.root, entry.complete, entry.error, entry.start_ns, entry.end_ns, entry.dropped_spans = frozen[:6]
        entry.ended = list(frozen[6:])
        return entry

    @classmethod
    def of_root(cls, span: Span) -> _Trace:
        """The ``_Trace`` of a trace kept as its lone running root."""
        entry = cls()
        entry.active[span.context.span_id] = span
        entry.root = span
        entry.start_ns = span.start_time or 0
        return entry

    def freeze(self) -> _Frozen:
        return (self.root, self.complete, self.error, self.start_ns, self.end_ns, self.dropped_spans, *self.ended)

    def __init__(self) -> None:
        self.active: dict[int, Span] = {}
        self.ended: list[SpanRecord] = []
        self.root: Span | SpanRecord | None = None  # the local root (no parent, or a remote parent)
        self.complete = False                  # the local root has ended
        self.error = False                     # some span ended with status ERROR
        self.start_ns = 0
        self.end_ns = 0
        self.dropped_spans = 0


class TraceSnapshot:
    """A consistent copy of one trace, taken under the store's lock."""

    __slots__ = ("trace_id", "ended", "active", "root", "complete", "error", "start_ns", "end_ns",
                 "dropped_spans")

    def __init__(self, trace_id: int, entry: _Entry) -> None:
        entry = _as_trace(entry)
        self.trace_id = trace_id
        self.ended: list[SpanRecord] = list(entry.ended)
        self.active: list[Span] = list(entry.active.values())  # records made outside the lock
        self.root: Span | SpanRecord | None = entry.root
        self.complete = entry.complete
        self.error = entry.error
        self.start_ns = entry.start_ns
        self.end_ns = entry.end_ns
        self.dropped_spans = entry.dropped_spans


class TraceStore(SpanProcessor):
    """Bounded index of this process's spans by trace. Thread-safe."""

    def __init__(
        self,
        *,
        max_traces: int = 10_000,
        max_spans_per_trace: int = 1_000,
        max_active_spans: int = 10_000,
        retention_days: float = 7.0,
        clock_ns: Any = time.time_ns,
    ) -> None:
        for name, value in (("max_traces", max_traces), ("max_spans_per_trace", max_spans_per_trace),
                            ("max_active_spans", max_active_spans)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be an integer > 0, got {value!r}")
        if not retention_days > 0:
            raise ValueError(f"retention_days must be > 0, got {retention_days!r}")
        self.max_traces = max_traces
        self.max_spans_per_trace = max_spans_per_trace
        self.max_active_spans = max_active_spans
        self.retention_ns = int(retention_days * _NS_PER_DAY)
        self._clock_ns = clock_ns
        # Started spans and ended spans' records, applied in batches under the inbox's lock,
        # which guards everything below (see the module's docstring).
        self._inbox = Inbox(self._apply, "traces", fault_kind="tracing", drain_at=STORE_DRAIN_AT)
        self._lock = self._inbox.lock
        self._traces: OrderedDict[int, _Entry] = OrderedDict()  # oldest first
        self._active_count = 0  # spans in the traces' ``active`` dicts
        self._evicted = _selfmon.DropTally("traces", "memory_max_traces")  # added to under the lock
        _STORES.add(self)

    def _after_fork_in_child(self) -> None:
        # A lock held by another thread at fork time would stay locked in the child.
        self._lock = self._inbox.lock = threading.Lock()

    # -- SpanProcessor --------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        # The SDK calls processors without a guard: a fault here must not reach the code starting a span.
        try:
            self._inbox.put(span)
        except Exception as exc:  # noqa: BLE001
            _selfmon.fault("tracing", exc, key="trace store on_start")

    def on_end(self, span: ReadableSpan) -> None:
        try:
            self._inbox.put(record_of(span))  # the record is made here, outside the lock
        except Exception as exc:  # noqa: BLE001
            _selfmon.fault("tracing", exc, key="trace store on_end")

    def _apply(self, items: list[Span | SpanRecord]) -> None:
        """Apply filed items in order, holding the lock: a ``Span`` started, a record (a tuple) ended."""
        start, end = self._start, self._end
        for item in items:
            try:
                if isinstance(item, tuple):
                    end(item)
                else:
                    start(item)
            except Exception as exc:  # noqa: BLE001 - one bad span must not cost the batch
                _selfmon.fault("tracing", exc, key="trace store apply")

    def _start(self, span: Span) -> None:  # under the lock
        ctx = span.context
        trace_id = ctx.trace_id
        parent = span.parent
        local_root = parent is None or parent.is_remote
        traces = self._traces
        entry = traces.get(trace_id)
        if entry is None:
            if local_root:  # a new trace: the span alone stands for it, until a second one starts
                traces[trace_id] = span
            else:
                entry = traces[trace_id] = _Trace()
                entry.start_ns = span.start_time or 0
            if len(traces) > self.max_traces:
                self._evict_trace()
        elif not isinstance(entry, _Trace):
            entry = traces[trace_id] = _as_trace(entry)
        if entry is not None:
            entry.active[ctx.span_id] = span
            if local_root:
                entry.root = span
        self._active_count += 1
        if self._active_count > self.max_active_spans:
            self._shed_active()

    def _end(self, record: SpanRecord) -> None:  # under the lock
        trace_id = record[F_TRACE_ID]
        start, end = record[F_START], record[F_END]
        entry = self._traces.get(trace_id)
        if entry is None:  # started before we were added, or its trace was evicted
            entry = self._traces[trace_id] = _Trace()
            entry.start_ns = start
            if len(self._traces) > self.max_traces:
                self._evict_trace()
        elif not isinstance(entry, _Trace):
            if not isinstance(entry, tuple) and entry.context.span_id == record[F_SPAN_ID]:
                # The lone root of its trace ended: the trace is done, frozen at once.
                self._active_count -= 1
                self._traces[trace_id] = (record, True, record[F_STATUS] == "ERROR", start, end, 0, record)
                return
            entry = self._traces[trace_id] = _as_trace(entry)  # a late span, or another span of the trace
        if entry.active.pop(record[F_SPAN_ID], None) is not None:
            self._active_count -= 1
        if len(entry.ended) < self.max_spans_per_trace:
            entry.ended.append(record)
        else:
            entry.dropped_spans += 1
            _selfmon.dropped("spans", "memory_max_spans_per_trace", 1)
        if start < entry.start_ns:
            entry.start_ns = start
        if end > entry.end_ns:
            entry.end_ns = end
        if record[F_STATUS] == "ERROR":
            entry.error = True
        if record[F_PARENT_ID] is None or record[F_PARENT_REMOTE]:
            entry.root = record
            entry.complete = True
        if entry.complete and not entry.active and trace_id in self._traces:
            self._traces[trace_id] = entry.freeze()  # keeps its place in the eviction order

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    # -- bounds (called under the lock) -------------------------------------------------

    def _evict_trace(self) -> None:
        _, entry = self._traces.popitem(last=False)
        self._active_count -= _active_in(entry)
        self._evicted.n += 1  # one per new trace at the cap: a tally, not a call to _selfmon.dropped

    def _shed_active(self) -> None:
        """Forget the oldest running spans, down to nine tenths of the bound (so it runs rarely)."""
        target = self.max_active_spans * 9 // 10
        forgotten = 0
        for trace_id, entry in self._traces.items():  # oldest trace first
            if self._active_count <= target:
                break
            if isinstance(entry, tuple) or (isinstance(entry, _Trace) and not entry.active):
                continue
            if not isinstance(entry, _Trace):
                entry = self._traces[trace_id] = _as_trace(entry)  # the same key: the iteration goes on
            while entry.active and self._active_count > target:
                del entry.active[next(iter(entry.active))]
                self._active_count -= 1
                forgotten += 1
        _selfmon.dropped("spans", "memory_max_active", forgotten)

    # -- reads --------------------------------------------------------------------------

    def snapshot(self, trace_id: int) -> TraceSnapshot | None:
        """A copy of one trace, or None when unknown or past retention."""
        horizon = self._clock_ns() - self.retention_ns
        with self._lock:
            self._inbox.drain()
            entry = self._traces.get(trace_id)
            if entry is None or _expired(entry, horizon):
                return None
            return TraceSnapshot(trace_id, entry)

    def snapshots(self, *, completed_only: bool = False, errors_only: bool = False) -> list[TraceSnapshot]:
        """Copies of the traces kept (oldest first), purging those past retention."""
        horizon = self._clock_ns() - self.retention_ns
        with self._lock:
            self._inbox.drain()
            expired = [tid for tid, e in self._traces.items() if _expired(e, horizon)]
            for trace_id in expired:
                self._active_count -= _active_in(self._traces.pop(trace_id))
            _selfmon.dropped("traces", "memory_retention_age", len(expired))
            return [TraceSnapshot(tid, e) for tid, e in self._traces.items()
                    if (not completed_only or _fields(e)[0]) and (not errors_only or _fields(e)[1])]

    def active_spans(self, trace_id: int) -> list[Span]:
        """Spans of ``trace_id`` started and not ended yet."""
        with self._lock:
            self._inbox.drain()
            entry = self._traces.get(trace_id)
            if entry is None or isinstance(entry, tuple):
                return []
            return list(entry.active.values()) if isinstance(entry, _Trace) else [entry]

    def summaries(self) -> tuple[list[tuple[Any, ...]], int]:
        """``([(root record, complete, error, start_ns, end_ns)], active span count)``, cheap for statistics.

        The root is a ``_spanrec`` record (of the running span for a trace not complete), or None.
        """
        horizon = self._clock_ns() - self.retention_ns
        with self._lock:
            self._inbox.drain()
            rows = [e[:5] if isinstance(e, tuple)
                    else (e.root, e.complete, e.error, e.start_ns, e.end_ns) if isinstance(e, _Trace)
                    else (e, False, False, e.start_time or 0, 0)
                    for e in self._traces.values() if not _expired(e, horizon)]
            active = self._active_count
        return [(root if root is None or type(root) is tuple else record_of_active(root), *rest)
                for root, *rest in rows], active

    def clear(self) -> None:
        with self._lock:
            self._inbox.clear()
            self._traces.clear()
            self._active_count = 0


#: How the store keeps one trace: see the module's docstring.
_Entry = _Trace | _Frozen | Span


def _as_trace(entry: _Entry) -> _Trace:
    """The entry as a ``_Trace`` (a new one for a frozen trace or a lone root)."""
    if isinstance(entry, _Trace):
        return entry
    if isinstance(entry, tuple):
        return _Trace.thaw(entry)
    return _Trace.of_root(entry)


def _active_in(entry: _Entry) -> int:
    """How many running spans the entry holds (counted in ``_active_count``)."""
    if isinstance(entry, _Trace):
        return len(entry.active)
    return 0 if isinstance(entry, tuple) else 1


def _fields(entry: _Entry) -> tuple[bool, bool, int]:
    """``(complete, error, end_ns)`` of a trace, in any of its shapes."""
    if isinstance(entry, tuple):
        return entry[1], entry[2], entry[4]
    if isinstance(entry, _Trace):
        return entry.complete, entry.error, entry.end_ns
    return False, False, 0  # a running lone root


def _expired(entry: _Entry, horizon: int) -> bool:
    complete, _error, end_ns = _fields(entry)
    return complete and end_ns < horizon


_STORES: weakref.WeakSet[Any] = weakref.WeakSet()


def renew_after_fork(obj: Any) -> None:
    """Call ``obj._after_fork_in_child()`` in forked children, without keeping ``obj`` alive."""
    _STORES.add(obj)


def _after_fork_in_child() -> None:
    for obj in list(_STORES):
        obj._after_fork_in_child()


_lifecycle.register("trace stores and collectors", after_fork_child=_after_fork_in_child)
