"""What the queries return: spans, traces and span trees as plain dicts, and statistics.

Built from ``TraceStore`` snapshots outside its lock. Statuses are the library's
one vocabulary (``monitoring_layer._status``, the same words as ``traces.json``):
a span is ``ACTIVE`` until it ends, then ``SUCCESS``, ``ERROR``, ``TIMEOUT``,
``CANCELLED`` or ``ABANDONED``; a trace is ``ACTIVE`` until its root span ends,
then ``ERROR`` when any span ended in error, else ``SUCCESS``.
"""

from __future__ import annotations

import math
from typing import Any

from opentelemetry.trace import format_span_id, format_trace_id

from monitoring_layer._encode import UNKNOWN_SERVICE, duration_ms, iso, json_value
from monitoring_layer import _spanrec as field  # a record's fields: record[field.F_START]
from monitoring_layer._spanrec import SpanRecord, attributes_of, packed_attributes, record_of_active
from monitoring_layer._status import ACTIVE, ERROR, is_error, span_status, trace_status

from ._attrs import COMPONENT, INTERNAL_KEYS, REQUEST_ID, SERVICE, STATUS
from ._store import TraceSnapshot

__all__ = ["span_view", "statistics", "trace_view"]


def _record(span: Any) -> SpanRecord:
    return span if type(span) is tuple else record_of_active(span)


def trace_service(span: Any) -> str:
    """The service of a trace from its root: a ``_spanrec`` record, or an SDK span."""
    if span is None:
        return UNKNOWN_SERVICE
    if type(span) is tuple:
        service = attributes_of(span).get(SERVICE)
        return str(service) if service is not None else span[field.F_RESOURCE_SERVICE]
    service = (span.attributes or {}).get(SERVICE)
    if service is None and span.resource is not None:
        service = span.resource.attributes.get("service.name")
    return str(service) if service is not None else UNKNOWN_SERVICE


def span_view(span: Any, active: bool) -> dict[str, Any]:
    """A span as the queries show it; ``span`` is a record, or a running SDK span when ``active``."""
    rec = _record(span)
    attrs = attributes_of(rec)
    parent = rec[field.F_PARENT_ID]
    start = rec[field.F_START]
    end = None if active else rec[field.F_END]
    status = ACTIVE if active else span_status(rec[field.F_STATUS], attrs.get(STATUS))
    service = attrs.get(SERVICE)
    return {
        "span_id": format_span_id(rec[field.F_SPAN_ID]),
        "parent_span_id": format_span_id(parent) if parent is not None else None,
        "trace_id": format_trace_id(rec[field.F_TRACE_ID]),
        "operation_name": rec[field.F_NAME],
        "component": attrs.get(COMPONENT) or rec[field.F_SCOPE],
        "service": str(service) if service is not None else rec[field.F_RESOURCE_SERVICE],
        "kind": rec[field.F_KIND],
        "start": iso(start),
        "end": iso(end),
        "duration_ms": None if end is None else duration_ms(start, end),
        "status": status,
        "status_message": None if active else rec[field.F_STATUS_MESSAGE],
        "tags": {k: json_value(v) for k, v in attrs.items() if k not in INTERNAL_KEYS},
        "events": [
            {"name": name, "time": iso(timestamp),
             "attributes": {k: json_value(v) for k, v in packed_attributes(packed).items()}}
            for name, timestamp, packed in rec[field.F_EVENTS]
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
    pairs = [(s, False) for s in snap.ended] + [(record_of_active(s), True) for s in snap.active]
    pairs.sort(key=lambda pair: pair[0][field.F_START])
    spans = [span_view(span, active) for span, active in pairs]
    root = _record(snap.root) if snap.root is not None else None
    service = trace_service(root)
    for span in spans:  # spans of this process without a service of their own belong to the trace's
        if span["service"] is None or span["service"].startswith(UNKNOWN_SERVICE):
            span["service"] = service
    root_attrs = attributes_of(root) if root is not None else {}
    start = snap.start_ns
    end = snap.end_ns if snap.complete else None
    statuses = [s["status"] for s in spans]
    if snap.error:  # the store's flag also remembers a span in error it did not keep (max spans per trace)
        statuses.append(ERROR)
    status = trace_status(statuses, ended=snap.complete)
    return {
        "trace_id": format_trace_id(snap.trace_id),
        "service": service,
        "name": root[field.F_NAME] if root is not None else (spans[0]["operation_name"] if spans else None),
        "request_id": root_attrs.get(REQUEST_ID),
        "root_span_id": format_span_id(root[field.F_SPAN_ID]) if root is not None else None,
        "status": status,
        "complete": snap.complete,
        "start": iso(start),
        "end": iso(end),
        "duration_ms": None if end is None else duration_ms(start, end),
        "span_count": len(spans),
        "active_spans": len(snap.active),
        "error_count": sum(1 for s in spans if is_error(s["status"])),
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
