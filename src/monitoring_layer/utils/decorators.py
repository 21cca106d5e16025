"""The spec's function decorators (SPEC §8): metrics, logs and spans around a call.

=================  ==========================================================
decorator          records, per call
=================  ==========================================================
``TrackExecution`` ``function_calls_total{component,function,status}`` and
                   ``function_duration_ms{component,function,status}``; on an
                   exception also ``function_errors_total{...,error_type}``
``TrackTiming``    ``function_duration_ms{component,function,status}``
``CountCalls``     ``function_calls_total{component,function,status}``
``TrackErrors``    ``function_errors_total{component,function,error_type}``
``LogFunction``    a start, a completion and a failure log record
``TraceFunction``  a span named after the function, ended SUCCESS/ERROR/CANCELLED
=================  ==========================================================

``status`` is ``success``, ``error`` (an ``Exception``) or ``cancelled``
(``CancelledError``, ``KeyboardInterrupt``, a generator closed early). The
``function`` label is the function's ``__qualname__`` (``Class.method``)
unless ``name=`` is given. Exceptions are re-raised unchanged after being
recorded. A fault of the monitoring itself (a collector raising) never
changes the function's result or exception: it is contained by
``_selfmon.fault`` (which raises under ``MONITORING_STRICT``, for test suites).

Labels and names are resolved once at decoration time; a call costs two
``perf_counter_ns()`` reads and the records. A plain function's successful call
records through the collector's ``recorder`` of each series, resolved once per
collector; an exception, a coroutine or a generator through the facade calls.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ._collectors import check_collector, check_text, default, ensure_registered, fault
from ._names import CANCELLED, ERROR, SUCCESS, end_span_for, make_log_message, outcome
from ._wrap import instrument, is_plain_function

__all__ = ["CountCalls", "LogFunction", "TrackErrors", "TrackExecution", "TrackTiming", "TraceFunction"]

_F = TypeVar("_F", bound=Callable[..., Any])
_perf = time.perf_counter_ns

CALLS = "function_calls_total"
ERRORS = "function_errors_total"
DURATION = "function_duration_ms"


def _function_name(func: Any, name: str | None) -> str:
    if name is not None:
        return check_text(name, "name")
    target = getattr(func, "__func__", func)  # staticmethod/classmethod objects
    return getattr(target, "__qualname__", None) or type(target).__qualname__


class _MetricsBinding:
    """The metrics collector of one decorated function, with its families registered once.

    ``get()`` returns the fixed collector or the process-wide one; when that is
    a collector not seen before, the families are registered on it first.
    """

    __slots__ = ("_fixed", "_families", "_bound")

    def __init__(self, fixed: Any, families: tuple[str, ...]) -> None:
        self._fixed = fixed
        self._families = families
        self._bound: Any = None

    @property
    def is_fixed(self) -> bool:
        """True when a collector was given at decoration time (it never changes)."""
        return self._fixed is not None

    def get(self) -> Any:
        collector = self._fixed if self._fixed is not None else default("metrics")
        if collector is not self._bound:
            ensure_registered(collector, self._families)
            self._bound = collector
        return collector


class _MetricDecorator:
    """Base of the metric decorators: validates arguments, builds the per-function closure."""

    _families: tuple[str, ...] = ()

    def __init__(self, component: str, metrics_collector: Any = None, *, name: str | None = None) -> None:
        self.component = check_text(component, "component")
        self.metrics_collector = check_collector(metrics_collector, "metrics_collector", "metrics")
        self.name = None if name is None else check_text(name, "name")

    def __call__(self, func: _F) -> _F:
        function = _function_name(func, self.name)
        labels = {status: {"component": self.component, "function": function, "status": status}
                  for status in (SUCCESS, ERROR, CANCELLED)}
        binding = _MetricsBinding(self.metrics_collector, self._families)
        if (self._counts_success or self._times_success) and is_plain_function(func):
            return self._fast_sync(func, binding, function, labels)  # type: ignore[no-any-return]
        return instrument(func, *self._probe(binding, function, labels))  # type: ignore[return-value]

    def _probe(self, binding: _MetricsBinding, function: str,
               labels: dict[str, dict[str, str]]) -> tuple[Callable[[], Any], Callable[[Any, Any], None]]:
        raise NotImplementedError

    #: What a successful call records: its count in ``CALLS``, its duration in ``DURATION``.
    #: A decorator that records neither (``TrackErrors``) keeps the generic wrapper, as cheap.
    _counts_success = False
    _times_success = False

    def _fast_sync(self, func, binding, function, labels):  # type: ignore[no-untyped-def]
        # The common case, a plain function that returns: one wrapper frame and the success's
        # records to series resolved once per collector (``MetricsCollector.recorder``), so a call
        # skips the facade's lookup of the name and labels (the decorator-overhead target: at most
        # 1.2x the facade calls over the bare call). An exception goes through ``_probe``'s finish.
        ok = labels[SUCCESS]
        get = binding.get
        begin, finish = self._probe(binding, function, labels)
        timed_finish = begin is _perf  # its finish takes the start time, else no token
        counts, times = self._counts_success, self._times_success
        # The collector and its recorders, in closure cells (cheaper to read than a list); a
        # given collector never changes, so with a fixed binding they are looked up once.
        collector: Any = None
        count: Any = None
        observe: Any = None
        fixed = binding.is_fixed

        @functools.wraps(func)
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal collector, count, observe
            start = _perf()
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                finish(start if timed_finish else None, exc)
                raise
            try:
                if collector is None or not fixed:
                    metrics = get()
                    if metrics is not collector:
                        count, observe = _success_recorders(metrics, ok, counts, times)
                        collector = metrics  # last: a failure above is retried at the next call
                if count is not None:
                    count(1)
                if observe is not None:
                    observe((_perf() - start) / 1e6)
            except Exception as problem:  # noqa: BLE001 - never hurt the caller
                fault(problem, function)
            return result

        return wrapper

    def _error_labels(self, function: str, exc: BaseException) -> dict[str, str]:
        return {"component": self.component, "function": function, "error_type": type(exc).__name__}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(component={self.component!r})"


class TrackExecution(_MetricDecorator):
    """Count calls and record their duration (and count exceptions by type).

    >>> @TrackExecution(component="api")          # doctest: +SKIP
    ... def handle_request(request): ...
    """

    _families = (CALLS, DURATION, ERRORS)
    _counts_success = _times_success = True

    def _probe(self, binding, function, labels):  # type: ignore[no-untyped-def]
        ok = labels[SUCCESS]
        get = binding.get
        error_labels = self._error_labels

        def finish(start: int, exc: BaseException | None) -> None:
            elapsed_ms = (_perf() - start) / 1e6
            try:
                metrics = get()
                if exc is None:
                    metrics.increment_counter(CALLS, 1, ok)
                    metrics.observe_histogram(DURATION, elapsed_ms, ok)
                    return
                status_labels = labels[outcome(exc)]
                metrics.increment_counter(CALLS, 1, status_labels)
                metrics.observe_histogram(DURATION, elapsed_ms, status_labels)
                if isinstance(exc, Exception):
                    metrics.increment_counter(ERRORS, 1, error_labels(function, exc))
            except Exception as problem:  # noqa: BLE001 - never hurt the caller
                fault(problem, function)

        return _perf, finish


def _success_recorders(metrics: Any, ok: dict[str, str], counts: bool,
                       times: bool) -> tuple[Callable[[float], None] | None, Callable[[float], None] | None]:
    """The call counter's and the duration histogram's recorders of one function's successful calls.

    None for a series the decorator does not record. A collector without ``recorder`` (any object
    with the spec's methods is accepted) gets the facade calls instead.
    """
    recorder = getattr(metrics, "recorder", None)
    if recorder is None:  # only the methods this decorator records with are looked up
        return ((lambda value: metrics.increment_counter(CALLS, value, ok)) if counts else None,
                (lambda value: metrics.observe_histogram(DURATION, value, ok)) if times else None)
    return (recorder(CALLS, ok, metric_type="counter") if counts else None,
            recorder(DURATION, ok, metric_type="histogram") if times else None)


class TrackTiming(_MetricDecorator):
    """Record each call's duration in ``function_duration_ms`` (percentiles via the collector)."""

    _families = (DURATION,)
    _times_success = True

    def _probe(self, binding, function, labels):  # type: ignore[no-untyped-def]
        get = binding.get

        def finish(start: int, exc: BaseException | None) -> None:
            elapsed_ms = (_perf() - start) / 1e6
            try:
                get().observe_histogram(DURATION, elapsed_ms, labels[outcome(exc)])
            except Exception as problem:  # noqa: BLE001
                fault(problem, function)

        return _perf, finish


class CountCalls(_MetricDecorator):
    """Count each call in ``function_calls_total`` (by outcome)."""

    _families = (CALLS,)
    _counts_success = True

    def _probe(self, binding, function, labels):  # type: ignore[no-untyped-def]
        get = binding.get

        def start() -> None:
            return None

        def finish(_token: None, exc: BaseException | None) -> None:
            try:
                get().increment_counter(CALLS, 1, labels[outcome(exc)])
            except Exception as problem:  # noqa: BLE001
                fault(problem, function)

        return start, finish


class TrackErrors(_MetricDecorator):
    """Count each exception (``Exception`` subclasses) by type in ``function_errors_total``."""

    _families = (ERRORS,)

    def _probe(self, binding, function, labels):  # type: ignore[no-untyped-def]
        get = binding.get
        error_labels = self._error_labels

        def start() -> None:
            return None

        def finish(_token: None, exc: BaseException | None) -> None:
            if exc is None or not isinstance(exc, Exception):
                return
            try:
                get().increment_counter(ERRORS, 1, error_labels(function, exc))
            except Exception as problem:  # noqa: BLE001
                fault(problem, function)

        return start, finish


_LEVELS = ("debug", "info", "warning", "error", "critical")


class LogFunction:
    """Log the start (at ``level``), the completion (``level``) and the failure (ERROR) of each call.

    Messages come from ``make_log_message``: ``[WORKER] background_job - started``,
    ``[WORKER] background_job - success (1.23ms)``, ``[WORKER] background_job - error (1.23ms):
    ValueError: boom`` (with ``exception=`` the exception), ``... - cancelled (...)`` at WARNING.
    Each record carries the fields ``function``, and after the call ``status`` and ``duration_ms``.
    ``log_start=False`` keeps only the completion or failure record.
    """

    def __init__(self, component: str, log_aggregator: Any = None, *, name: str | None = None,
                 level: str = "info", log_start: bool = True) -> None:
        self.component = check_text(component, "component")
        self.log_aggregator = check_collector(log_aggregator, "log_aggregator", "logs")
        self.name = None if name is None else check_text(name, "name")
        if not isinstance(level, str) or level.lower() not in _LEVELS:
            raise ValueError(f"level must be one of {', '.join(_LEVELS)}, got {level!r}")
        self.level = level.lower()
        self.log_start = bool(log_start)

    def __call__(self, func: _F) -> _F:
        function = _function_name(func, self.name)
        component, fixed, level, log_start = self.component, self.log_aggregator, self.level, self.log_start
        started = make_log_message(component, function, "started")

        def start() -> int:
            if log_start:
                try:
                    logs = fixed if fixed is not None else default("logs")
                    getattr(logs, level)(component, started, function=function)
                except Exception as problem:  # noqa: BLE001
                    fault(problem, function)
            return _perf()

        def finish(begin: int, exc: BaseException | None) -> None:
            elapsed_ms = (_perf() - begin) / 1e6
            try:
                logs = fixed if fixed is not None else default("logs")
                status = outcome(exc)
                if status == SUCCESS:
                    getattr(logs, level)(component, make_log_message(component, function, status, elapsed_ms),
                                         function=function, status=status, duration_ms=elapsed_ms)
                elif status == ERROR:
                    logs.error(component, make_log_message(component, function, status, elapsed_ms, exc),
                               function=function, status=status, duration_ms=elapsed_ms, exception=exc)
                else:
                    logs.warning(component, make_log_message(component, function, status, elapsed_ms,
                                                             type(exc).__name__),
                                 function=function, status=status, duration_ms=elapsed_ms)
            except Exception as problem:  # noqa: BLE001
                fault(problem, function)

        return instrument(func, start, finish)  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"LogFunction(component={self.component!r})"




class TraceFunction:
    """Run each call in a span named after the function (``operation_name``), in ``component``.

    The span is a child of the current span when there is one (the tracing
    collector's context), else the root of a new trace. It ends ``SUCCESS``,
    ``ERROR`` (with the exception) or ``CANCELLED``, and carries the tag
    ``code.function.name`` (OTel semantic conventions: the fully qualified name,
    ``module.QualName``).
    """

    def __init__(self, component: str, tracing_collector: Any = None, *, name: str | None = None) -> None:
        self.component = check_text(component, "component")
        self.tracing_collector = check_collector(tracing_collector, "tracing_collector", "traces")
        self.name = None if name is None else check_text(name, "name")

    def __call__(self, func: _F) -> _F:
        function = _function_name(func, self.name)
        component, fixed = self.component, self.tracing_collector
        target = getattr(func, "__func__", func)
        module = getattr(target, "__module__", None) or ""
        qualname = getattr(target, "__qualname__", None) or getattr(target, "__name__", function)
        tags = {"code.function.name": f"{module}.{qualname}" if module else qualname}

        def start() -> tuple[Any, Any]:
            try:
                traces = fixed if fixed is not None else default("traces")
                return traces, traces.start_span(operation_name=function, component=component, tags=dict(tags))
            except Exception as problem:  # noqa: BLE001
                fault(problem, function)
                return None, None

        def finish(token: tuple[Any, Any], exc: BaseException | None) -> None:
            traces, span_id = token
            if span_id is None:
                return
            try:
                end_span_for(traces, span_id, exc)
            except Exception as problem:  # noqa: BLE001
                fault(problem, function)

        return instrument(func, start, finish)  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"TraceFunction(component={self.component!r})"
