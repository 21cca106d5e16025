"""Metric and log-message naming: ``make_metric_name``, ``make_log_message`` and
the metric families the decorators, context managers and integration record.

One metric family per kind of measurement, never one per function: the
function (or operation) and the component are labels. Families follow
Prometheus naming (``snake_case``, counters end in ``_total``); durations are
in milliseconds (``_ms``, unit ``ms``) like the spec's own ``*_time_ms``
metrics, which also suits OTel's default histogram buckets (0 to 10,000).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["FAMILIES", "make_log_message", "make_metric_name"]

# name -> (type, description, unit), as passed to ``register_metric``.
FAMILIES: dict[str, tuple[str, str, str]] = {
    # decorators (function level): labels component, function, status | error_type
    "function_calls_total": ("counter", "Calls of decorated functions, by outcome (status).", ""),
    "function_errors_total": ("counter", "Exceptions raised by decorated functions, by type (error_type).", ""),
    "function_duration_ms": ("histogram", "Duration of decorated function calls, by outcome (status).", "ms"),
    # context managers and monitored_function (operation level): labels component, operation, ...
    "operations_total": ("counter", "Operations (blocks or monitored functions), by outcome (status).", ""),
    "operation_errors_total": ("counter", "Exceptions raised by operations, by type (error_type).", ""),
    "operation_duration_ms": ("histogram", "Duration of operations, by outcome (status).", "ms"),
    # retry_with_tracking: labels component, function (+ error_type on failures)
    "retry_attempts_total": ("counter", "Attempts made by retry_with_tracking functions (first tries included).", ""),
    "retry_retries_total": ("counter", "Retries scheduled after a failed attempt.", ""),
    "retry_failures_total": ("counter", "Calls that failed for good (retries exhausted or error not retried).", ""),
}

SUCCESS, ERROR, CANCELLED = "success", "error", "cancelled"
STATUSES = (SUCCESS, ERROR, CANCELLED)

_INVALID = re.compile(r"[^a-z0-9_]+")
_VALID_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def outcome(exc: BaseException | None) -> str:
    """``success`` (no exception), ``error`` (an ``Exception``) or ``cancelled``.

    ``cancelled`` covers ``BaseException``s that are not errors of the function:
    ``asyncio.CancelledError``, ``KeyboardInterrupt``, ``GeneratorExit`` (a
    generator closed before its end), ``SystemExit``.
    """
    if exc is None:
        return SUCCESS
    return ERROR if isinstance(exc, Exception) else CANCELLED


_SPAN_STATUS = {SUCCESS: "SUCCESS", ERROR: "ERROR", CANCELLED: "CANCELLED"}


def end_span_for(traces: Any, span_id: str, exc: BaseException | None) -> None:
    """End ``span_id`` with the tracing status of the call's outcome (``error=exc`` on an error)."""
    status = outcome(exc)
    if status == ERROR:
        traces.end_span(span_id, "ERROR", error=exc)
    else:
        traces.end_span(span_id, _SPAN_STATUS[status])


def make_metric_name(component: str, name: str, suffix: str | None = None) -> str:
    """A Prometheus-style metric name from its parts, lower-case, joined by ``_``.

    Characters other than letters, digits and ``_`` become ``_``.

    >>> make_metric_name("kafka", "messages_in", "total")
    'kafka_messages_in_total'
    >>> make_metric_name("Spark", "execution-time", "ms")
    'spark_execution_time_ms'
    """
    parts = []
    for argument, value in (("component", component), ("name", name), ("suffix", suffix)):
        if value is None and argument == "suffix":
            continue
        if not isinstance(value, str):
            raise TypeError(f"{argument} must be a str, got {type(value).__name__}")
        part = _INVALID.sub("_", value.strip().lower()).strip("_")
        if not part:
            if argument == "suffix":
                continue
            raise ValueError(f"{argument} {value!r} has no letters or digits")
        parts.append(part)
    result = re.sub(r"_+", "_", "_".join(parts))
    if not _VALID_NAME.match(result):
        raise ValueError(f"component {component!r} makes the invalid metric name {result!r} "
                         "(a metric name cannot start with a digit)")
    return result


def make_log_message(component: str, operation: str, status: str, duration_ms: float | None = None,
                     error: Any = None) -> str:
    """The library's log line: ``[COMPONENT] operation - status (1.23ms): error``.

    >>> make_log_message("spark", "processing", "success", duration_ms=1234.56)
    '[SPARK] processing - success (1234.56ms)'
    >>> make_log_message("db", "query", "error", error=TimeoutError("slow"))
    '[DB] query - error: TimeoutError: slow'
    """
    message = f"[{str(component).upper()}] {operation} - {status}"
    if duration_ms is not None:
        try:
            message += f" ({float(duration_ms):.2f}ms)"
        except (TypeError, ValueError, OverflowError):  # "abc", [], 10**400
            raise ValueError(f"duration_ms must be a number of milliseconds or None, not {duration_ms!r:.40}") from None
    if error is not None:
        message += f": {type(error).__name__}: {error}" if isinstance(error, BaseException) else f": {error}"
    return message
