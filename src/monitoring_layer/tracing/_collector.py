"""``TracingCollector``: the spec's tracing API over an OTel ``TracerProvider``.

Every span is a real OTel span (so it reaches every exporter of the provider);
the facade only keeps the live spans it handed out by id, and a ``TraceStore``
processor on the same provider answers the queries.

"Current span" is OTel's current context (a contextvar): ``start_trace`` and
``start_span`` make their span current in the calling thread or asyncio task,
``end_span`` of the current span makes current again what was current before
it. Threads and pools started inside a trace inherit it (see ``_threads``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.trace import Status, StatusCode, format_span_id, format_trace_id, set_span_in_context

from monitoring_layer import _compat, _selfmon
from monitoring_layer._encode import write_report
from monitoring_layer._scrub import Scrubber
from monitoring_layer.types import TraceDict
from monitoring_layer._process_wide import ProcessWide
from monitoring_layer._version import __version__
from monitoring_layer.config import Settings, get_settings

from . import _propagation, _threads, _views
from ._attrs import (
    COMPONENT,
    REQUEST_ID,
    SERVICE,
    STATUS,
    clean_attributes,
    clean_value,
    ok_status,
    resolve_kind,
    resolve_status,
)
from ._scope import SpanScope
from ._store import TraceStore, renew_after_fork

__all__ = ["TracingCollector", "get_tracing_collector"]

_OK = ok_status()
_INVALID_SPAN_ID = "0" * 16
_INVALID_TRACE_ID = "0" * 32
#: Distinct components (and services) that get a tracer of their own; the SDK keeps tracers for ever.
_MAX_COMPONENTS = 1_000


_get_current, _attach = _compat.context_ops()
_get_current_span = otel_trace.get_current_span


class TracingCollector:
    """Distributed request tracing: traces, spans, events, tags, queries, statistics.

    ``tracer_provider`` defaults to OTel's global one. A ``TraceStore`` is
    added to it as a span processor (pass ``store`` to share one; then it is
    not added again). ``propagate_to_threads`` installs, once per process, the
    patches that carry the current trace into ``threading.Thread`` and
    ``ThreadPoolExecutor`` work.

    Example::

        traces = TracingCollector(pipeline.tracer_provider)
        trace_id = traces.start_trace("user-service", request_id="req_123")
        span = traces.start_span("authenticate", "auth-service")
        traces.end_span(span, "SUCCESS")
        traces.end_trace(trace_id)
    """

    def __init__(
        self,
        tracer_provider: Any = None,
        *,
        store: TraceStore | None = None,
        settings: Settings | None = None,
        propagate_to_threads: bool = True,
    ) -> None:
        settings = settings or get_settings()
        provider = tracer_provider if tracer_provider is not None else otel_trace.get_tracer_provider()
        if not hasattr(provider, "get_tracer"):
            raise TypeError(f"tracer_provider must be an OTel TracerProvider, got {type(provider).__name__}")
        self.tracer_provider = provider
        self._tracer = provider.get_tracer("monitoring_layer.tracing", __version__)
        self._tracers: dict[str, Any] = {}  # component -> tracer named after it, at most _MAX_COMPONENTS
        if store is None:
            store = TraceStore(
                max_traces=settings.traces_max_traces,
                max_spans_per_trace=settings.traces_max_spans_per_trace,
                max_active_spans=settings.traces_max_active_spans,
                retention_days=settings.traces_retention_days,
            )
            if hasattr(provider, "add_span_processor"):  # an SDK provider; a no-op one records nothing
                provider.add_span_processor(store)
                # Secrets in span attributes and events are redacted as each span ends, before the
                # store or any exporter sees it (the same rules as for logs; once per provider).
                _compat.add_span_scrubber(provider, Scrubber(settings.logs_redact_keys).changes)
        self.store = store
        self.max_active_spans = settings.traces_max_active_spans
        # span id (hex) -> (span, context current before it started, trace id if it is a root,
        #                  the context that made it current)
        self._live: dict[str, tuple[Any, Context, str | None, Context]] = {}
        self._roots: dict[str, str] = {}  # trace id -> root span id, for end_trace
        self._lock = threading.Lock()     # for the rare paths: eviction, counters
        self._invalid_ends = 0
        self._invalid_calls = 0
        self._abandoned = 0
        if propagate_to_threads:
            _threads.install()
        renew_after_fork(self)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()

    # -- traces -------------------------------------------------------------------------

    def start_trace(self, service: str, request_id: str | None = None, *, context: Context | None = None,
                    kind: str | otel_trace.SpanKind | None = None, **attributes: Any) -> str:
        """Start a trace: a root span named ``service``, made current. Returns its 32-hex trace id.

        ``context`` (from ``extract``) continues a remote trace: same trace id,
        the remote span as parent. ``attributes`` become tags of the root span.
        ``kind`` is the OTel span kind (``server``, ``client``, ``producer``,
        ``consumer``, ``internal``): by default ``server`` when a remote
        ``context`` is continued (a request arrived), else ``internal``.
        """
        if not isinstance(service, str) or not service:
            raise ValueError(f"service must be a non-empty string, got {service!r}")
        span_kind = resolve_kind(kind) if kind is not None else (
            otel_trace.SpanKind.SERVER if context is not None else otel_trace.SpanKind.INTERNAL)
        try:
            attrs = clean_attributes(attributes) if attributes else {}
            attrs[SERVICE] = service
            if request_id is not None:
                attrs[REQUEST_ID] = clean_value(request_id)
            prev = _get_current()
            # A trace is a new root, whatever is current, unless a remote context is continued.
            tracer = self._tracers.get(service) or self._tracer_for(service)
            if tracer is self._tracer:
                attrs[COMPONENT] = service
            span = tracer.start_span(service, context=context if context is not None else Context(),
                                     kind=span_kind, attributes=attrs)
            ctx = span.get_span_context()
            if not ctx.is_valid:  # a no-op provider (OTEL_SDK_DISABLED): nothing to keep
                return _INVALID_TRACE_ID
            trace_id = format_trace_id(ctx.trace_id)
            span_id = format_span_id(ctx.span_id)
            ctx = set_span_in_context(span, prev)
            _attach(ctx)
            self._live[span_id] = (span, prev, trace_id, ctx)
            self._roots[trace_id] = span_id
            if len(self._live) > self.max_active_spans:
                self._abandon_oldest()
            return trace_id
        except Exception as exc:  # noqa: BLE001 - never into the caller's hot path
            _selfmon.fault("tracing", exc, key="start_trace")
            return _INVALID_TRACE_ID

    def end_trace(self, trace_id: str, status: str = "SUCCESS", error: Any = None) -> bool:
        """End the trace's root span. Its spans still open (this facade's) end first, ``CANCELLED``.

        Returns False (and counts it) when the trace has no open root here.
        """
        span_id = self._roots.pop(trace_id, None) if isinstance(trace_id, str) else None
        record = self._live.get(span_id) if span_id is not None else None
        if record is None or span_id is None:
            return self._bad_end("end_trace", trace_id)
        root = record[0]
        trace_int = root.get_span_context().trace_id
        for span in self.store.active_spans(trace_int):
            child_id = format_span_id(span.get_span_context().span_id)
            if child_id != span_id:
                self._finish(child_id, "CANCELLED", "ended by end_trace before the span ended", restore=False)
        current = _get_current_span().get_span_context()
        ok = self.end_span(span_id, status, error)
        if current.trace_id == trace_int:  # this thread was inside the trace: leave it
            _attach(record[1])
        return ok

    # -- spans --------------------------------------------------------------------------

    def start_span(self, operation_name: str, component: str, parent_span_id: str | None = None,
                   trace_id: str | None = None, tags: Mapping[str, Any] | None = None, *,
                   kind: str | otel_trace.SpanKind = "internal") -> str:
        """Start a span, made current; returns its 16-hex span id.

        The parent is ``parent_span_id`` when given, else the current span of
        this thread or asyncio task, else (with ``trace_id``) the root of that trace.
        ``kind``: ``internal`` (default), ``server``, ``client``, ``producer`` or ``consumer``.
        """
        span_kind = otel_trace.SpanKind.INTERNAL if kind == "internal" else resolve_kind(kind)
        try:
            tracer = self._tracers.get(component)
            attrs = clean_attributes(tags) if tags else None
            if tracer is None:
                tracer = self._tracer_for(component)
                if tracer is self._tracer:  # no tracer of its own (past the cap): the component is an attribute
                    attrs = {**(attrs or {}), COMPONENT: str(component)}
            prev = _get_current()
            parent_ctx = None
            if parent_span_id is not None or trace_id is not None:
                parent_ctx = self._parent_context(prev, parent_span_id, trace_id)
            span = tracer.start_span(operation_name, parent_ctx if parent_ctx is not None else prev,
                                     kind=span_kind, attributes=attrs)
            span_id = "%016x" % span.get_span_context().span_id  # = format_span_id, at half the cost
            if span_id == _INVALID_SPAN_ID:  # a no-op provider (OTEL_SDK_DISABLED): nothing to keep
                return span_id
            ctx = set_span_in_context(span, prev)
            _attach(ctx)
            live = self._live
            live[span_id] = (span, prev, None, ctx)
            if len(live) > self.max_active_spans:
                self._abandon_oldest()
            return span_id
        except Exception as exc:  # noqa: BLE001 - never into the caller's hot path
            _selfmon.fault("tracing", exc, key="start_span")
            return _INVALID_SPAN_ID

    def end_span(self, span_id: str, status: str = "SUCCESS", error: Any = None) -> bool:
        """End a span with ``status`` (SUCCESS, ERROR, CANCELLED, ...; ``error`` implies ERROR).

        An exception as ``error`` is recorded as an OTel exception event.
        Returns False, and counts it, for an unknown or already ended span.
        """
        # _finish(restore=True), inlined: this is the hot path. A span id that is no
        # string (a list: unhashable) is an unknown span, like any other bad id.
        record = self._live.pop(span_id, None) if isinstance(span_id, str) else None
        if record is None:
            return self._bad_end("end_span", span_id)
        span, prev, root_of, ctx = record
        if root_of is not None:
            self._roots.pop(root_of, None)
        try:
            try:
                if status != "SUCCESS" or error is not None:  # SUCCESS: OTel UNSET, nothing to set
                    self._set_status(span, status, error)
            finally:
                span.end()
                if _get_current() is ctx:  # this span is current here: make its predecessor current
                    _attach(prev)
        except Exception as exc:  # noqa: BLE001 - never into the caller's hot path
            _selfmon.fault("tracing", exc, key="end_span")
        return True

    def span(self, operation_name: str, component: str = "app", *, kind: str | otel_trace.SpanKind = "internal",
             tags: Mapping[str, Any] | None = None) -> SpanScope:
        """A span as a context manager (also `async with`) or a decorator of sync and async functions.

        >>> with traces.span("load", component="etl") as span:  # doctest: +SKIP
        ...     span.add_tag("rows", 120)

        The span starts on entry (made current) and ends on exit: ``SUCCESS``,
        or ``ERROR`` with the exception recorded when the block raises (the
        exception propagates unchanged). As a decorator each call is one span.
        """
        if not isinstance(operation_name, str) or not operation_name:
            raise ValueError(f"operation_name must be a non-empty string, got {operation_name!r}")
        if not isinstance(component, str) or not component:
            raise ValueError(f"component must be a non-empty string, got {component!r}")
        resolve_kind(kind)
        if tags is not None and not isinstance(tags, Mapping):
            raise TypeError(f"tags must be a mapping of attribute names to values, got {type(tags).__name__}")
        return SpanScope(self, operation_name, component, kind, dict(tags) if tags else None)

    def add_event(self, span_id: str, name: str, attributes: Mapping[str, Any] | None = None) -> bool:
        """Add a timestamped event to an open span. False for an unknown or ended span."""
        record = self._live_record(span_id)
        if record is None:
            return self._bad_call("add_event", span_id)
        with _selfmon.contained("tracing", key="add_event"):
            record[0].add_event(str(name), clean_attributes(attributes) if attributes else None)
        return True

    def add_tag(self, span_id: str, key: str, value: Any) -> bool:
        """Set a tag (an OTel attribute) on an open span; values OTel cannot hold become strings."""
        record = self._live_record(span_id)
        if record is None:
            return self._bad_call("add_tag", span_id)
        with _selfmon.contained("tracing", key="add_tag"):
            record[0].set_attribute(key if type(key) is str else str(key), clean_value(value))
        return True

    # -- context across processes ---------------------------------------------------

    def inject(self, carrier: Any, span_id: str | None = None) -> Any:
        """Write the current (or ``span_id``'s) trace context into ``carrier`` (W3C ``traceparent``)."""
        ctx = None
        if span_id is not None:
            record = self._live_record(span_id)
            if record is None:
                self._bad_call("inject", span_id)
            else:
                ctx = set_span_in_context(record[0])
        return _propagation.inject(carrier, ctx)

    def extract(self, carrier: Any) -> Context:
        """The remote context in ``carrier``; pass it to ``start_trace(service, context=...)``."""
        return _propagation.extract(carrier)

    # -- queries ----------------------------------------------------------------------

    def get_trace(self, trace_id: str) -> TraceDict | None:
        """The trace with its spans and span tree, or None when unknown here."""
        if not isinstance(trace_id, str):
            raise TypeError(f"trace_id must be a 32-hex string, got {type(trace_id).__name__}")
        try:
            trace_int = int(trace_id, 16)
        except ValueError:
            return None
        snap = self.store.snapshot(trace_int)
        return _views.trace_view(snap) if snap is not None else None  # type: ignore[return-value]

    def get_slow_traces(self, duration_threshold_ms: float = 1000, limit: int = 100) -> list[dict[str, Any]]:
        """Completed traces that lasted at least ``duration_threshold_ms``, slowest first."""
        _check_limit(limit)
        threshold_ns = _milliseconds_ns(duration_threshold_ms, "duration_threshold_ms")
        slow = [s for s in self.store.snapshots(completed_only=True) if s.end_ns - s.start_ns >= threshold_ns]
        slow.sort(key=lambda s: s.end_ns - s.start_ns, reverse=True)
        return [_views.trace_view(s) for s in slow[:limit]]

    def get_error_traces(self, limit: int = 100) -> list[dict[str, Any]]:
        """Completed traces with a span in error, newest first."""
        _check_limit(limit)
        errors = self.store.snapshots(completed_only=True, errors_only=True)
        errors.sort(key=lambda s: s.end_ns, reverse=True)
        return [_views.trace_view(s) for s in errors[:limit]]

    def get_active_spans(self) -> list[dict[str, Any]]:
        """Spans started by this collector and not ended yet, oldest first."""
        return [_views.span_view(span, True) for span, *_rest in list(self._live.values())
                if span.is_recording()]

    def get_tracing_statistics(self) -> dict[str, Any]:
        """Totals (traces, completed, active, errors), by service, durations (mean, p50, p95, p99, max)."""
        rows, active_spans = self.store.summaries()
        stats = _views.statistics(rows, active_spans)
        with self._lock:
            stats["invalid_span_ends"] = self._invalid_ends
            stats["invalid_span_calls"] = self._invalid_calls
            stats["abandoned_spans"] = self._abandoned
        return stats

    def export_trace(self, trace_id: str, path: str | os.PathLike[str]) -> bool:
        """Write ``get_trace(trace_id)`` as JSON to ``path`` (0600). False when the trace is unknown."""
        trace = self.get_trace(trace_id)
        if trace is None:
            return False
        write_report(path, trace)
        return True

    # -- internals ----------------------------------------------------------------------

    def _tracer_for(self, component: Any) -> Any:
        """The tracer named after ``component``: a span's component is its instrumentation scope.

        A span attribute would cost about a tenth of a span; the scope costs
        nothing per span. Past ``_MAX_COMPONENTS`` distinct names (or for a name
        that is not a non-empty string) the facade's own tracer is returned and
        the component is set as the ``monitoring.component`` attribute instead.
        """
        if not isinstance(component, str) or not component:
            return self._tracer
        with self._lock:
            tracer = self._tracers.get(component)
            if tracer is None:
                if len(self._tracers) >= _MAX_COMPONENTS:
                    return self._tracer
                tracer = self._tracers[component] = self.tracer_provider.get_tracer(component, __version__)
            return tracer


    def _parent_context(self, prev: Context, parent_span_id: str | None, trace_id: str | None) -> Context | None:
        if parent_span_id is not None:
            record = self._live_record(parent_span_id)
            if record is not None:
                return set_span_in_context(record[0], prev)
            self._bad_call("start_span(parent_span_id)", parent_span_id)
            return None
        current = _get_current_span(prev).get_span_context()
        if current.is_valid and format_trace_id(current.trace_id) == trace_id:
            return None  # already inside that trace: the current span is the parent
        root_id = self._roots.get(trace_id) if isinstance(trace_id, str) else None
        record = self._live.get(root_id) if root_id is not None else None
        if record is not None:
            return set_span_in_context(record[0], prev)
        self._bad_call("start_span(trace_id)", trace_id)
        return None

    def _finish(self, span_id: str, status: Any, error: Any, *, restore: bool) -> bool:
        record = self._live.pop(span_id, None)
        if record is None:
            return self._bad_end("end_span", span_id)
        span, prev, root_of, ctx = record
        if root_of is not None:
            self._roots.pop(root_of, None)
        try:
            try:
                self._set_status(span, status, error)
            finally:
                span.end()
                if restore and _get_current() is ctx:
                    _attach(prev)
        except Exception as exc:  # noqa: BLE001
            _selfmon.fault("tracing", exc, key="end_span")
        return True

    def _set_status(self, span: Any, status: Any, error: Any) -> None:
        unknown = None
        try:
            code, facade_status = resolve_status(status)
        except ValueError as exc:
            _selfmon.fault("tracing", exc, key="end_span status")
            # An ERROR whose word stays in the attribute; the status everything shows is ERROR
            # (monitoring_layer._status), so the description says which word it was.
            code, facade_status = StatusCode.ERROR, str(status)
            unknown = f"unknown status {facade_status!r}"
        if error is not None and code is not StatusCode.ERROR and facade_status is None:
            code = StatusCode.ERROR  # an error was given: the default SUCCESS cannot stand
        if isinstance(error, BaseException):
            span.record_exception(error)
            span.set_attribute("error.type", _type_name(type(error)))
            description: str | None = f"{type(error).__name__}: {error}"
        else:
            description = unknown if error is None else str(error)
        if facade_status is not None:
            span.set_attribute(STATUS, facade_status)
        if code is StatusCode.ERROR:
            span.set_status(Status(StatusCode.ERROR, description))
        elif code is StatusCode.OK:
            span.set_status(_OK)
        elif description is not None:
            span.set_attribute("monitoring.status_message", description)

    def _abandon_oldest(self) -> None:
        with self._lock:
            while len(self._live) > self.max_active_spans:
                try:
                    span_id = next(iter(self._live))
                except (RuntimeError, StopIteration):  # resized by another thread meanwhile: retry
                    continue
                record = self._live.pop(span_id, None)
                if record is None:
                    continue
                span, _prev, root_of, _ctx = record
                if root_of is not None:
                    self._roots.pop(root_of, None)
                self._abandoned += 1
                _selfmon.dropped("spans", "max_active_spans", 1)
                with _selfmon.contained("tracing", key="abandon"):
                    span.set_attribute(STATUS, "ABANDONED")
                    span.set_attribute("monitoring.status_message",
                                       f"never ended; more than {self.max_active_spans} spans were open")
                    span.end()

    def _bad_end(self, what: str, span_id: Any) -> bool:
        if span_id in (_INVALID_SPAN_ID, _INVALID_TRACE_ID):  # tracing disabled or failed: nothing to end
            return True
        with self._lock:
            self._invalid_ends += 1
        _selfmon.fault("tracing", f"{what}({span_id!r}): unknown or already ended", key=what, strict=False)
        return False

    def _live_record(self, span_id: Any) -> tuple[Any, Context, str | None, Context] | None:
        """The open span ``span_id`` names; None for an unknown id or one that is no string at all."""
        return self._live.get(span_id) if isinstance(span_id, str) else None

    def _bad_call(self, what: str, span_id: Any) -> bool:
        with self._lock:
            self._invalid_calls += 1
        _selfmon.fault("tracing", f"{what}: {span_id!r} is unknown or already ended", key=what, strict=False)
        return False


def _type_name(cls: type) -> str:
    """An exception class as OTel's ``error.type`` names it: ``module.QualName``, bare for builtins."""
    module = cls.__module__
    return cls.__qualname__ if not module or module == "builtins" else f"{module}.{cls.__qualname__}"


def _milliseconds_ns(value: Any, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{argument} must be a number of milliseconds, got {type(value).__name__}")
    try:
        result = float(value) * 1e6
    except OverflowError:
        raise ValueError(f"{argument} is too large: {value!r}") from None
    if result != result:
        raise ValueError(f"{argument} must be a number, got {value!r}")
    return result


def _check_limit(limit: Any) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limit must be an integer >= 0, got {limit!r}")


# --------------------------------------------------------------------------- process-wide

#: Built by ``monitoring_layer._defaults`` on the process-wide pipeline (this layer never imports it).
_COLLECTOR: ProcessWide[TracingCollector] = ProcessWide(None, what="get_tracing_collector()")


def get_tracing_collector() -> TracingCollector:
    """The process-wide collector, on the global pipeline's TracerProvider."""
    return _COLLECTOR.get()
