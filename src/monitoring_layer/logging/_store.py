"""``LogStore``: the bounded in-memory store and running totals behind the aggregator's queries.

It is an OTel ``LogRecordProcessor`` on the aggregator's ``LoggerProvider``, so
it sees every record of that provider: the aggregator's own, those of the
stdlib bridge and those of any other OTel logger (instrumentation libraries).
Records not made by the aggregator are scrubbed here before they are kept.

Bounds: at most ``max_records`` records (oldest evicted first, counted in
``monitoring_layer_dropped_total{signal="logs", reason="memory_evicted"}``),
indexed per component; the running totals (by level, by component, by
exception type) survive eviction. Their key sets are capped at
``MAX_KEYS`` names; later names are counted under ``"(other)"``.

The write path takes no lock: each record's entry is made in the emitting thread
and filed in an ``Inbox`` (``monitoring_layer._inbox``); batches are applied to the
store under its lock, and every read applies what waits first. A lock taken per
record convoyed under the GIL with many logging threads (docs/benchmarks.md, step 19).
"""

from __future__ import annotations

import threading
import weakref
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.trace import format_span_id, format_trace_id

from monitoring_layer import _lifecycle, _selfmon
from monitoring_layer._inbox import Inbox
from monitoring_layer._encode import cached_resource_service, iso, json_value, level_name
from monitoring_layer.types import LogRecordDict

from monitoring_layer._scrub import Scrubber

__all__ = ["ERROR_BUCKET", "LogStore", "MAX_KEYS", "OTHER"]

#: Exception type counted for ERROR/CRITICAL records that carry no ``exception.type``.
ERROR_BUCKET = "Error"
#: Distinct components and exception types counted by name; later ones go to ``OTHER``.
MAX_KEYS = 1000
OTHER = "(other)"

_NS_PER_MINUTE = 60 * 1_000_000_000
_ERROR_SEVERITY = 17
_LEVEL_NAMES = [level_name(n) for n in range(25)]

# An entry is one flat tuple (cheap to build on the hot path); these are its fields. _RES is
# the resource's service name, _KEYS the attribute names (a shared tuple) and the attribute
# values follow from _VALUES on. Flat matters: CPython stops tracking a tuple of atoms at the
# first collection that sees it, but a tuple holding a fresh tuple only one collection of an
# older generation later, so nested entries stayed tracked (and walked by every full
# collection) until the next full collection.
_TS, _SEV, _TEXT, _COMP, _MSG, _TRACE, _SPAN, _RES, _KEYS = range(9)
_VALUES = 9

Entry = tuple

#: Attribute name tuples seen so far, each kept once: entries share them, so an entry holds no
#: fresh tuple. Bounded; names beyond it are simply not shared.
_KEY_SETS: dict[tuple[str, ...], tuple[str, ...]] = {}
_MAX_KEY_SETS = 4096


_known_keys = _KEY_SETS.get


def _share_keys(keys: tuple[str, ...]) -> tuple[str, ...]:
    """``keys`` kept as the shared tuple of its names (on a ``_known_keys`` miss)."""
    if len(_KEY_SETS) < _MAX_KEY_SETS:
        return _KEY_SETS.setdefault(keys, keys)
    return keys


def _attributes(entry: Entry) -> dict[str, Any]:
    return dict(zip(entry[_KEYS], entry[_VALUES:]))


class LogStore(LogRecordProcessor):
    """Newest ``max_records`` log records, per-component index, running totals."""

    def __init__(self, max_records: int, scrubber: Scrubber, own_scope: str,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.max_records = max_records
        self._scrubber = scrubber
        self._own_scope = own_scope
        self._clock = clock
        #: Scrub records of other loggers here (False once a ScrubbingProcessor runs first).
        self.scrub_foreign = True
        #: The aggregator's InstrumentationScope: its records skip the name comparison.
        self.own_scope_object: Any = None
        # (entry, level name, minute, exception type or None) per record, applied under the inbox's
        # lock, which guards everything below.
        self._inbox = Inbox(self._apply, "logs", fault_kind="logs_store")
        self._lock = self._inbox.lock
        self._records: deque[Entry] = deque()
        self._index: dict[str, deque[Entry]] = {}
        self._evicted = 0
        self._evicted_tally = _selfmon.DropTally("logs", "memory_evicted")  # added to under the lock
        self._total = 0
        self._by_level: dict[str, int] = {}
        self._by_component: dict[str, int] = {}
        self._errors: dict[str, int] = {}
        self._minutes: dict[int, int] = {}  # minute number -> records (the last 61 minutes)
        self._started_ns = clock()
        _STORES.add(self)  # a lock held by another thread at fork time would stay locked in the child

    def _after_fork(self) -> None:
        self._lock = self._inbox.lock = threading.Lock()

    # -- LogRecordProcessor ------------------------------------------------------------

    def on_emit(self, log_record: Any) -> None:
        try:
            self._add(log_record)
        except Exception as exc:  # noqa: BLE001 - never break the caller's logging
            _selfmon.fault("logs_store", exc, key=type(exc).__name__)

    def shutdown(self) -> None:
        self._apply_waiting()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        self._apply_waiting()
        return True

    # -- write path ------------------------------------------------------------------

    def _add(self, item: Any) -> None:
        record = item.log_record
        attrs = record.attributes
        body = record.body
        scope = item.instrumentation_scope
        if scope is not self.own_scope_object:
            scope_name = scope.name if scope is not None else ""
            if scope_name != self._own_scope:
                # Another OTel logger on the provider: copy (and scrub unless done already).
                if self.scrub_foreign:
                    attrs = self._scrubber.mapping(attrs) if attrs else {}
                    body = "" if body is None else self._scrubber.message(body)
                else:
                    attrs = dict(attrs) if attrs else {}
                    body = "" if body is None else body if isinstance(body, str) else str(json_value(body))
        else:
            scope_name = self._own_scope
        component = attrs.get("component") if attrs else None
        if type(component) is not str:
            component = scope_name if component is None else str(component)
        severity = record.severity_number
        severity = severity._value_ if severity is not None else 0  # Enum.value is a slow property
        timestamp = record.timestamp or record.observed_timestamp or self._clock()
        # Atoms only (the resource by its service name, attribute names shared): a full store of
        # entries is then nothing the garbage collector has to walk after their first collection.
        service = cached_resource_service(item.resource)
        if attrs:
            keys = tuple(attrs)
            entry = (timestamp, severity, record.severity_text, component, body, record.trace_id,
                     record.span_id, service, _known_keys(keys) or _share_keys(keys), *attrs.values())
        else:
            entry = (timestamp, severity, record.severity_text, component, body, record.trace_id,
                     record.span_id, service, ())
        level = _LEVEL_NAMES[severity] if 0 <= severity <= 24 else "UNSPECIFIED"
        kind = None
        if severity >= _ERROR_SEVERITY:
            kind = attrs.get("exception.type") if attrs else None
            kind = ERROR_BUCKET if not kind else str(kind)
        self._inbox.put((entry, level, timestamp // _NS_PER_MINUTE, kind))

    def _apply(self, items: list[tuple[Entry, str, int, str | None]]) -> None:
        """Add filed entries in order, holding the lock: the bounded store, its index and the totals."""
        records = self._records
        indexes = self._index
        by_level = self._by_level
        counts = self._by_component
        errors = self._errors
        minutes = self._minutes
        max_records = self.max_records
        for entry, level, minute, kind in items:
            component = entry[_COMP]
            records.append(entry)
            index = indexes.get(component)
            if index is None:
                index = indexes[component] = deque()
            index.append(entry)
            if len(records) > max_records:
                oldest = records.popleft()
                bucket = indexes[oldest[_COMP]]
                bucket.popleft()
                if not bucket:
                    del indexes[oldest[_COMP]]
                self._evicted += 1
                self._evicted_tally.n += 1
            by_level[level] = by_level.get(level, 0) + 1
            if component in counts or len(counts) < MAX_KEYS:
                counts[component] = counts.get(component, 0) + 1
            else:
                counts[OTHER] = counts.get(OTHER, 0) + 1
            if kind is not None:
                if kind not in errors and len(errors) >= MAX_KEYS:
                    kind = OTHER
                errors[kind] = errors.get(kind, 0) + 1
            if minute in minutes:
                minutes[minute] += 1
            else:
                minutes[minute] = 1
                if len(minutes) > 61:
                    for old in [m for m in minutes if m < minute - 60]:
                        del minutes[old]
        self._total += len(items)

    def _apply_waiting(self) -> None:
        # Not waiting: a flush must not hang on a thread interrupted while it applies a batch
        # (SIGTERM in the main thread); that thread, or the next read, applies what waits.
        if self._lock.acquire(blocking=False):
            try:
                self._inbox.drain()
            finally:
                self._lock.release()

    # -- read path ------------------------------------------------------------------

    def snapshot(self, component: str | None = None) -> list[Entry]:
        """The kept entries (of one component), oldest first."""
        with self._lock:
            self._inbox.drain()
            if component is None:
                return list(self._records)
            return list(self._index.get(component, ()))

    def query(
        self,
        *,
        component: str | None = None,
        min_severity: int = 0,
        since_ns: int | None = None,
        trace_id: str | None = None,
        match: Callable[[Entry], bool] | None = None,
        limit: int = 100,
    ) -> list[LogRecordDict]:
        """Matching records as dicts, newest first, at most ``limit``."""
        found: list[LogRecordDict] = []
        if limit <= 0:
            return found
        for entry in reversed(self.snapshot(component)):
            if since_ns is not None and entry[_TS] < since_ns:
                continue
            if entry[_SEV] < min_severity:
                continue
            if trace_id is not None and not _has_trace(entry, trace_id):
                continue
            if match is not None and not match(entry):
                continue
            found.append(as_dict(entry))
            if len(found) >= limit:
                break
        # Records of several threads may reach the store slightly out of time order.
        found.sort(key=lambda r: r["time_unix_nano"], reverse=True)
        return found

    def error_summary(self) -> dict[str, int]:
        with self._lock:
            self._inbox.drain()
            errors = dict(self._errors)
        return dict(sorted(errors.items(), key=lambda kv: (-kv[1], kv[0])))

    def statistics(self) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            self._inbox.drain()
            total = self._total
            by_level = dict(self._by_level)
            by_component = dict(self._by_component)
            minute = now // _NS_PER_MINUTE
            # The current minute counts whole; the oldest of the hour only for its remaining part.
            last_hour = sum(n for m, n in self._minutes.items() if minute - 60 < m <= minute)
            kept = len(self._records)
            evicted = self._evicted
            errors = sum(self._errors.values())
        hours = max((now - self._started_ns) / 3.6e12, 1 / 3600)  # at least one second
        for name in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            by_level.setdefault(name, 0)
        return {
            "total": total,
            "by_level": by_level,
            "by_component": dict(sorted(by_component.items(), key=lambda kv: (-kv[1], kv[0]))),
            "errors": errors,
            "error_rate": errors / total if total else 0.0,
            "logs_per_hour": {
                "last_hour": last_hour,
                "since_start": total / hours,
            },
            "since": iso(self._started_ns),
            "in_memory": kept,
            "in_memory_limit": self.max_records,
            "evicted_from_memory": evicted,
        }


def _has_trace(entry: Entry, trace_id: str) -> bool:
    attrs = _attributes(entry)
    if attrs and attrs.get("trace_id") == trace_id:
        return True
    return bool(entry[_TRACE]) and format_trace_id(entry[_TRACE]) == trace_id.lower()


def as_dict(entry: Entry) -> LogRecordDict:
    """One entry in the record shape of ``logs/logs.json``."""
    timestamp, severity, text, component, body, trace_id, span_id, service = entry[:_KEYS]
    attrs = _attributes(entry)
    return {
        "time": iso(timestamp),
        "time_unix_nano": timestamp,
        "level": level_name(severity),
        "severity_number": severity,
        "severity_text": text,
        "component": component,
        "message": body if isinstance(body, str) else str(json_value(body)),
        "attributes": {str(k): json_value(v) for k, v in attrs.items()} if attrs else {},
        "trace_id": format_trace_id(trace_id) if trace_id else None,
        "span_id": format_span_id(span_id) if span_id else None,
        "service": service,
    }


def searchable_text(entry: Entry) -> str:
    """Message and string attribute values, lower-cased, for full-text search."""
    parts = [entry[_MSG] if isinstance(entry[_MSG], str) else str(entry[_MSG])]
    parts.extend(v for v in entry[_VALUES:] if isinstance(v, str))
    return "\n".join(parts).lower()


_STORES: weakref.WeakSet[Any] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_STORES):
        store._after_fork()


_lifecycle.register("log stores", after_fork_child=_after_fork_in_child)
