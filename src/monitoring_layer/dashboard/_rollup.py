"""Incremental aggregates of finished traces, so panels never rescan history.

A *request* is a trace: its local root span (no parent, or a remote parent)
ending is one request, with the root's duration as its latency and an error when
the trace had a span in error: the file's trace ``status``, or (live) a span of it
ended with OTel's ``ERROR`` code, the same rule as ``_status.trace_status``.
``TraceRollup.add`` is O(1); every panel reads per-minute buckets
(at most ``max_minutes``), per-service totals (at most ``max_services``) and two
bounded lists of the newest traces, so a panel's cost depends on the window
asked for, not on how many traces were ever recorded.

Latency percentiles come from a log-bucketed histogram (``RATIO`` apart, so a
percentile is within about 2% of the exact value), mergeable across minutes.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import StatusCode, format_trace_id

from monitoring_layer import _selfmon
from monitoring_layer._spanrec import F_NAME, F_TRACE_ID
from monitoring_layer._status import ERROR, SUCCESS

__all__ = ["LatencyHistogram", "TraceRollup", "TraceRollupProcessor"]

NS_PER_MINUTE = 60_000_000_000
RATIO = 1.04
_LOG_RATIO = math.log(RATIO)
OTHER_SERVICE = "_other"


class LatencyHistogram:
    """Counts of latencies in log-spaced bins; ``merge`` and ``percentile`` in O(bins)."""

    __slots__ = ("bins", "count", "min", "max")

    def __init__(self) -> None:
        self.bins: dict[int, int] = {}
        self.count = 0
        self.min = math.inf
        self.max = -math.inf

    def add(self, value_ms: float) -> None:
        index = -10_000 if value_ms <= 0 else math.floor(math.log(value_ms) / _LOG_RATIO)
        self.bins[index] = self.bins.get(index, 0) + 1
        self.count += 1
        self.min = min(self.min, value_ms)
        self.max = max(self.max, value_ms)

    def merge(self, other: LatencyHistogram) -> None:
        for index, n in other.bins.items():
            self.bins[index] = self.bins.get(index, 0) + n
        self.count += other.count
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile (0-100), the bin's geometric middle clamped to the observed range."""
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q / 100 * self.count))
        seen = 0
        for index in sorted(self.bins):
            seen += self.bins[index]
            if seen >= rank:
                value = 0.0 if index == -10_000 else RATIO ** (index + 0.5)
                return round(min(max(value, self.min), self.max), 3)
        return round(self.max, 3)  # pragma: no cover - ranks never exceed count


class _Bucket:
    __slots__ = ("requests", "errors", "latency")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.latency = LatencyHistogram()


class _Service:
    __slots__ = ("requests", "errors", "last_seen_ns", "latency", "minutes")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.last_seen_ns = 0
        self.latency = LatencyHistogram()
        self.minutes: dict[int, list[int]] = {}  # minute -> [requests, errors], the last few minutes only


class TraceRollup:
    """Per-minute and per-service aggregates of finished traces, and the newest traces. Thread-safe."""

    def __init__(self, *, max_minutes: int = 2 * 24 * 60, max_services: int = 500, recent: int = 1_000,
                 rate_window_minutes: int = 5) -> None:
        self.max_minutes = max_minutes
        self.max_services = max_services
        self.rate_window_minutes = rate_window_minutes
        self._lock = threading.Lock()
        self._minutes: OrderedDict[int, _Bucket] = OrderedDict()
        self._services: dict[str, _Service] = {}
        self._total = _Bucket()
        self._first_ns = 0
        self._last_ns = 0
        self._recent: deque[dict[str, Any]] = deque(maxlen=recent)
        self._recent_errors: deque[dict[str, Any]] = deque(maxlen=recent)

    def add(self, trace_id: str, service: str, name: str, start_ns: int, end_ns: int, error: bool,
            span_count: int | None = None) -> None:
        """Count one finished trace (O(1))."""
        duration_ms = max(0, end_ns - start_ns) / 1e6
        minute = end_ns // NS_PER_MINUTE
        row = {"trace_id": trace_id, "service": service, "name": name, "status": ERROR if error else SUCCESS,
               "start_unix_nano": start_ns, "end_unix_nano": end_ns, "duration_ms": round(duration_ms, 3),
               "span_count": span_count}
        with self._lock:
            bucket = self._minutes.get(minute)
            if bucket is None:
                late = bool(self._minutes) and minute < next(reversed(self._minutes))
                bucket = self._minutes[minute] = _Bucket()
                if late:  # a trace older than the newest minute: rare, keep the minutes in order
                    self._minutes = OrderedDict(sorted(self._minutes.items()))
                while len(self._minutes) > self.max_minutes:
                    self._minutes.popitem(last=False)
                    _selfmon.dropped("dashboard", "rollup_max_minutes", 1)
            for agg in (bucket, self._total):
                agg.requests += 1
                agg.errors += error
                agg.latency.add(duration_ms)
            svc = self._services.get(service)
            if svc is None:
                if len(self._services) >= self.max_services:
                    service = OTHER_SERVICE
                svc = self._services.setdefault(service, _Service())
            svc.requests += 1
            svc.errors += error
            svc.latency.add(duration_ms)
            svc.last_seen_ns = max(svc.last_seen_ns, end_ns)
            counts = svc.minutes.setdefault(minute, [0, 0])
            counts[0] += 1
            counts[1] += error
            if len(svc.minutes) > self.rate_window_minutes + 1:
                for old in sorted(svc.minutes)[: len(svc.minutes) - self.rate_window_minutes - 1]:
                    del svc.minutes[old]
            self._first_ns = end_ns if not self._first_ns else min(self._first_ns, end_ns)
            self._last_ns = max(self._last_ns, end_ns)
            self._recent.append(row)
            if error:
                self._recent_errors.append(row)

    # -- reads (each O(window) or O(bounded list), never O(history)) --------------------------

    def totals(self) -> dict[str, Any]:
        """All-time requests, errors, error rate and latency percentiles, first/last seen (ns)."""
        with self._lock:
            total = self._total
            latency = total.latency
            return {
                "requests": total.requests,
                "errors": total.errors,
                "error_rate": round(total.errors / total.requests, 6) if total.requests else 0.0,
                "p50": latency.percentile(50), "p95": latency.percentile(95), "p99": latency.percentile(99),
                "first_ns": self._first_ns, "last_ns": self._last_ns,
            }

    def window(self, since_ns: int) -> tuple[int, int, LatencyHistogram]:
        """Requests, errors and merged latency of the minutes that end at or after ``since_ns``."""
        first = since_ns // NS_PER_MINUTE
        merged = LatencyHistogram()
        requests = errors = 0
        with self._lock:
            for minute in reversed(self._minutes):
                if minute < first:
                    break
                bucket = self._minutes[minute]
                requests += bucket.requests
                errors += bucket.errors
                merged.merge(bucket.latency)
        return requests, errors, merged

    def buckets(self, since_ns: int, until_ns: int, bucket_minutes: int) -> dict[int, tuple[int, int, LatencyHistogram]]:
        """``{bucket start minute: (requests, errors, latency)}``, buckets aligned to the epoch."""
        first = since_ns // NS_PER_MINUTE
        last = until_ns // NS_PER_MINUTE
        out: dict[int, tuple[list[int], LatencyHistogram]] = {}
        with self._lock:
            for minute in reversed(self._minutes):
                if minute < first:
                    break
                if minute > last:
                    continue
                start = minute // bucket_minutes * bucket_minutes
                counts, hist = out.setdefault(start, ([0, 0], LatencyHistogram()))
                bucket = self._minutes[minute]
                counts[0] += bucket.requests
                counts[1] += bucket.errors
                hist.merge(bucket.latency)
        return {start: (c[0], c[1], h) for start, (c, h) in out.items()}

    def services(self, now_ns: int) -> dict[str, dict[str, Any]]:
        """Per service: requests, errors, error rate, request rate over the last minutes, last seen (ns)."""
        since = now_ns // NS_PER_MINUTE - self.rate_window_minutes + 1
        seconds = self.rate_window_minutes * 60
        with self._lock:
            items = list(self._services.items())
            out = {}
            for name, svc in items:
                recent = [c for m, c in svc.minutes.items() if m >= since]
                window_requests = sum(c[0] for c in recent)
                window_errors = sum(c[1] for c in recent)
                out[name] = {
                    "requests": svc.requests, "errors": svc.errors,
                    "error_rate": round(svc.errors / svc.requests, 6) if svc.requests else 0.0,
                    "request_rate_per_s": round(window_requests / seconds, 6),
                    "window_error_rate": round(window_errors / window_requests, 6) if window_requests else 0.0,
                    "p95_latency_ms": svc.latency.percentile(95),
                    "last_seen_ns": svc.last_seen_ns,
                }
        return out

    def recent(self, *, errors_only: bool = False) -> list[dict[str, Any]]:
        """The newest finished traces (at most ``recent``), newest first."""
        with self._lock:
            rows = list(self._recent_errors if errors_only else self._recent)
        rows.sort(key=lambda row: row["end_unix_nano"], reverse=True)  # several writers: not always in order
        return rows


class TraceRollupProcessor(SpanProcessor):
    """Feeds a ``TraceRollup`` from a TracerProvider: one ``add`` per local root span that ends.

    Holds the rollup weakly (an SDK provider cannot remove a processor; once the
    dashboard is gone this one does nothing). Until ``backfilled()`` is called it
    remembers the trace ids it counted, so the dashboard's one-time count of the
    traces the store already held skips them.
    """

    def __init__(self, rollup: TraceRollup, service_of: Any, max_open_traces: int = 10_000) -> None:
        self._rollup = weakref.ref(rollup)
        self.counted: set[int] | None = set()
        self._service_of = service_of
        self._max_open = max_open_traces
        self._lock = threading.Lock()
        # trace id -> [ended spans, any in error] for traces whose root has not ended yet (bounded)
        self._open: OrderedDict[int, list[Any]] = OrderedDict()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        rollup = self._rollup()
        if rollup is None:
            return
        end = span.end_time or 0
        trace_int = span.context.trace_id
        failed = span.status.status_code is StatusCode.ERROR
        parent = span.parent
        is_root = parent is None or parent.is_remote
        with self._lock:
            state = self._open.pop(trace_int, None) if is_root else self._open.get(trace_int)
            if state is None:
                state = [0, False]
                if not is_root:
                    self._open[trace_int] = state
                    if len(self._open) > self._max_open:
                        self._open.popitem(last=False)
                        _selfmon.dropped("dashboard", "rollup_max_open_traces", 1)
            state[0] += 1
            state[1] = state[1] or failed
            if is_root and self.counted is not None:
                self.counted.add(trace_int)
        if not is_root:
            return
        with _selfmon.contained("dashboard", key="rollup"):
            rollup.add(format_trace_id(trace_int), self._service_of(span), span.name,
                       span.start_time or end, end, bool(state[1]), state[0])

    def backfill(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Count ``(root record, complete, error, start_ns, end_ns)`` rows of the trace store once
        (records of ``monitoring_layer._spanrec``),
        skipping traces this processor already counted; then stop remembering ids."""
        rollup = self._rollup()
        with self._lock:
            counted, self.counted = self.counted or set(), None
        if rollup is None:
            return
        done = sorted((r for r in rows if r[1] and r[0] is not None
                       and r[0][F_TRACE_ID] not in counted), key=lambda r: r[4])
        for root, _complete, error, start_ns, end_ns in done:
            rollup.add(format_trace_id(root[F_TRACE_ID]), self._service_of(root), root[F_NAME],
                       start_ns, end_ns, bool(error))

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
