"""What the queries return: spans, traces and span trees as plain dicts, and statistics.

Built from ``TraceStore`` snapshots outside its lock. Span statuses use the
facade's vocabulary: ``ACTIVE`` (not ended), ``SUCCESS`` (OTel OK or UNSET),
``ERROR``, or the facade status kept in the ``monitoring.status`` attribute
(``CANCELLED``, ``ABANDONED``, ``TIMEOUT``). Trace statuses: ``ACTIVE`` until its root span
ends, then ``ERROR`` when any span ended in error, else ``SUCCESS``.
"""

from __future__ import annotations

import math
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode, format_span_id, format_trace_id

from monitoring_layer._encode import iso, json_value

from ._attrs import COMPONENT, INTERNAL_KEYS, REQUEST_ID, SERVICE, STATUS
from ._store import TraceSnapshot

__all__ = ["span_view", "statistics", "trace_view"]

# An ended span without an error is a success, whether it says OK or (as OTel recommends) UNSET.
_OTEL_STATUS = {StatusCode.OK: "SUCCESS", StatusCode.ERROR: "ERROR", StatusCode.UNSET: "SUCCESS"}


def _attributes(span: ReadableSpan) -> dict[str, Any]:
    for _ in range(3):  # an active span may gain attributes while we copy them
        try:
            return dict(span.attributes or {})
        except RuntimeError:
            continue
    return {}


def trace_service(span: ReadableSpan | None) -> str:
    if span is None:
        return "unknown_service"
    attrs = span.attributes or {}
    service = attrs.get(SERVICE)
    if service is None and span.resource is not None:
        service = span.resource.attributes.get("service.name")
    return str(service) if service is not None else "unknown_service"


def span_view(span: ReadableSpan, active: bool) -> dict[str, Any]:
    attrs = _attributes(span)
    ctx = span.context
    parent = span.parent
    scope = span.instrumentation_scope
    start = span.start_time or 0
    end = None if active else (span.end_time or start)
    if active:
        status = "ACTIVE"
    else:
        status = attrs.get(STATUS) or _OTEL_STATUS.get(span.status.status_code, "SUCCESS")
    service = attrs.get(SERVICE)
    if service is None and span.resource is not None:
        service = span.resource.attributes.get("service.name")
    return {
        "span_id": format_span_id(ctx.span_id),
        "parent_span_id": format_span_id(parent.span_id) if parent is not None else None,
        "trace_id": format_trace_id(ctx.trace_id),
        "operation_name": span.name,
        "component": attrs.get(COMPONENT) or (scope.name if scope is not None else None),
        "service": None if service is None else str(service),
        "kind": span.kind.name,
        "start": iso(start),
        "end": iso(end),
        "duration_ms": None if end is None else round((end - start) / 1e6, 6),
        "status": status,
        "status_message": None if active else span.status.description,
        "tags": {k: json_value(v) for k, v in attrs.items() if k not in INTERNAL_KEYS},
        "events": [
            {"name": e.name, "time": iso(e.timestamp), "attributes": {k: json_value(v) for k, v in
                                                                      (e.attributes or {}).items()}}
            for e in list(span.events)
        ],
        "active": active,
    }


def _tree(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    nodes = {s["span_id"]: {**s, "depth": 0, "children": []} for s in spans}
    roots = []
    for node in nodes.values():  # spans are sorted by start, so children stay in start order
        parent = nodes.get(node["parent_span_id"]) if node["parent_span_id"] else None
        if parent is None:
            roots.append(node)
        else:
            parent["children"].append(node)
    stack = [(node, 0) for node in roots]
    while stack:  # iterative: a deep trace must not hit the recursion limit
        node, depth = stack.pop()
        node["depth"] = depth
        stack.extend((child, depth + 1) for child in node["children"])
    return roots


def trace_view(snap: TraceSnapshot) -> dict[str, Any]:
    pairs = [(s, False) for s in snap.ended] + [(s, True) for s in snap.active]
    pairs.sort(key=lambda pair: pair[0].start_time or 0)
    spans = [span_view(span, active) for span, active in pairs]
    root = snap.root
    service = trace_service(root)
    for span in spans:  # spans of this process without a service of their own belong to the trace's
        if span["service"] is None or span["service"].startswith("unknown_service"):
            span["service"] = service
    root_attrs = _attributes(root) if root is not None else {}
    start = snap.start_ns
    end = snap.end_ns if snap.complete else None
    if snap.complete:
        status = "ERROR" if snap.error else "SUCCESS"
    else:
        status = "ACTIVE"
    return {
        "trace_id": format_trace_id(snap.trace_id),
        "service": service,
        "name": root.name if root is not None else (spans[0]["operation_name"] if spans else None),
        "request_id": root_attrs.get(REQUEST_ID),
        "root_span_id": format_span_id(root.context.span_id) if root is not None else None,
        "status": status,
        "complete": snap.complete,
        "start": iso(start),
        "end": iso(end),
        "duration_ms": None if end is None else round((end - start) / 1e6, 6),
        "span_count": len(spans),
        "active_spans": len(snap.active),
        "error_count": sum(1 for s in spans if s["status"] == "ERROR"),
        "dropped_spans": snap.dropped_spans,
        "spans": spans,
        "tree": _tree(spans),
    }


def _percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def duration_summary(durations: list[float]) -> dict[str, Any]:
    if not durations:
        return {"count": 0, "mean": None, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(durations)
    return {
        "count": len(ordered),
        "mean": round(sum(ordered) / len(ordered), 6),
        "p50": round(_percentile(ordered, 50), 6),
        "p95": round(_percentile(ordered, 95), 6),
        "p99": round(_percentile(ordered, 99), 6),
        "max": round(ordered[-1], 6),
    }


def statistics(rows: list[tuple[Any, ...]], active_spans: int) -> dict[str, Any]:
    """Statistics over ``TraceStore.summaries()`` rows."""
    completed = errors = 0
    durations: list[float] = []
    by_service: dict[str, dict[str, Any]] = {}
    for root, complete, error, start_ns, end_ns in rows:
        service = trace_service(root)
        entry = by_service.get(service)
        if entry is None:
            entry = by_service[service] = {"traces": 0, "completed": 0, "active": 0, "errors": 0, "_d": []}
        entry["traces"] += 1
        if complete:
            completed += 1
            entry["completed"] += 1
            duration = (end_ns - start_ns) / 1e6
            durations.append(duration)
            entry["_d"].append(duration)
            if error:
                errors += 1
                entry["errors"] += 1
        else:
            entry["active"] += 1
    for entry in by_service.values():
        entry["duration_ms"] = duration_summary(entry.pop("_d"))
    return {
        "total_traces": len(rows),
        "completed_traces": completed,
        "active_traces": len(rows) - completed,
        "error_traces": errors,
        "error_rate": round(errors / completed, 6) if completed else 0.0,
        "active_spans": active_spans,
        "by_service": dict(sorted(by_service.items())),
        "duration_ms": duration_summary(durations),
    }
