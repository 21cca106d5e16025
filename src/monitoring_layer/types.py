"""Typed shapes of the public query results, so a type checker catches ``stats["p959"]``.

They are plain ``dict`` s at run time (``TypedDict``): JSON-serializable, and
``dict(...)``/``json.dumps`` work as before. Internal helper layer: imports nothing of ours.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

__all__ = ["LogRecordDict", "MetricStatistics", "SpanDict", "SpanEventDict", "SpanStatus", "TraceDict", "TraceStatus"]

#: A span's status word (``monitoring_layer._status``): an ended span's, or ``ACTIVE`` in the queries while
#: it runs. Spelled out here (this module imports nothing of ours); tests/test_types.py keeps them equal.
SpanStatus = Literal["SUCCESS", "ERROR", "TIMEOUT", "CANCELLED", "ABANDONED", "ACTIVE"]
#: A trace's status word: ``ERROR`` when any span is in error, else ``SUCCESS``; ``ACTIVE`` in the queries
#: while its local root span has not ended.
TraceStatus = Literal["SUCCESS", "ERROR", "ACTIVE"]


class _StatisticsBase(TypedDict):
    count: int
    sum: float
    mean: float | None
    min: float | None
    max: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    total_count: int
    total_sum: float
    series: int


class MetricStatistics(_StatisticsBase, total=False):
    """``MetricsCollector.get_metric_statistics()``: over the retained points, plus lifetime totals."""

    total: float          # counters: the exact total
    last: float | None    # gauges: the last value


class LogRecordDict(TypedDict):
    """One log record, as ``get_logs()``/``search_logs()`` return it and ``logs/logs.json`` holds it."""

    time: str | None
    time_unix_nano: int
    level: str
    severity_number: int | None
    severity_text: str | None
    component: str | None
    message: str
    attributes: dict[str, Any]
    trace_id: str | None
    span_id: str | None
    service: str


class SpanEventDict(TypedDict):
    name: str
    time: str | None
    attributes: dict[str, Any]


class SpanDict(TypedDict):
    """One span of ``get_trace()`` (also ``get_active_spans()``)."""

    span_id: str
    parent_span_id: str | None
    trace_id: str
    operation_name: str
    component: str | None
    service: str | None
    kind: str
    start: str | None
    end: str | None
    duration_ms: float | None
    status: SpanStatus
    status_message: str | None
    tags: dict[str, Any]
    events: list[SpanEventDict]
    active: bool


class TraceDict(TypedDict):
    """``TracingCollector.get_trace()``: the trace, its spans (start order) and their tree."""

    trace_id: str
    service: str | None
    name: str | None
    request_id: Any
    root_span_id: str | None
    status: TraceStatus
    complete: bool
    start: str | None
    end: str | None
    duration_ms: float | None
    span_count: int
    active_spans: int
    error_count: int
    dropped_spans: int
    spans: list[SpanDict]
    tree: list[dict[str, Any]]
