"""Where the panels' data comes from: the live facades of this process, or a home's files.

Both sources answer the same small interface in the files' shapes (metric
entries as in ``metrics_registry.json``, log records as in ``logs.json``, traces
as in ``traces.json``), so the panels are one implementation over records,
whatever their source.
"""

from __future__ import annotations

import re
from datetime import datetime
from collections.abc import Mapping
from typing import Any

from monitoring_layer import _selfmon
from monitoring_layer._status import is_error
from monitoring_layer.logging import parse_level
from monitoring_layer.tracing import trace_service

from ._home import LEVEL_ORDER, HomeFiles
from ._rollup import TraceRollup, TraceRollupProcessor

__all__ = ["HomeSource", "LiveSource", "search_terms"]

_SEVERITY = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARNING": 13, "ERROR": 17, "CRITICAL": 21}


def search_terms(query: str | None) -> list[str]:
    """The log aggregator's query syntax: words (substrings) and ``"quoted phrases"``, lower-cased."""
    if not query:
        return []
    return [t for t in ((p or w).lower() for p, w in re.findall(r'"([^"]*)"|(\S+)', query)) if t]


def _record_matches(record: Mapping[str, Any], terms: list[str]) -> bool:
    parts = [str(record.get("message", ""))]
    attrs = record.get("attributes")
    if isinstance(attrs, Mapping):
        parts.extend(v for v in attrs.values() if isinstance(v, str))
    text = "\n".join(parts).lower()
    return all(term in text for term in terms)


def normalize_span(span: Mapping[str, Any]) -> dict[str, Any]:
    """A span from the tracing collector (``operation_name``, ``tags``) or the file (``name``, ``attributes``).

    Both already speak the one status vocabulary (``monitoring_layer._status``; the home's
    reader migrates records of older files), so the status passes through as it is.
    """
    start = span.get("start_unix_nano")
    return {
        "span_id": span.get("span_id"),
        "parent_span_id": span.get("parent_span_id"),
        "name": span.get("operation_name") or span.get("name"),
        "component": span.get("component") or span.get("scope"),
        "service": span.get("service"),
        "start": span.get("start"),
        "start_unix_nano": start,
        "duration_ms": span.get("duration_ms"),
        "status": span.get("status"),
        "status_message": span.get("status_message"),
        "attributes": dict(span.get("tags") or span.get("attributes") or {}),
        "events": list(span.get("events") or []),
    }


class LiveSource:
    """The facades of this process. A ``TraceRollupProcessor`` on the tracer provider keeps the rollup."""

    read_only = False

    def __init__(self, metrics: Any, logs: Any, traces: Any) -> None:
        self.metrics, self.logs, self.traces = metrics, logs, traces
        self._metrics_cache: tuple[Any, dict[str, Any]] | None = None
        self.rollup = TraceRollup()
        if traces is not None:
            processor = TraceRollupProcessor(self.rollup, trace_service)
            provider: Any = getattr(traces, "tracer_provider", None)
            if hasattr(provider, "add_span_processor"):
                provider.add_span_processor(processor)
            # Count once what the tracing collector finished before this dashboard existed.
            store: Any = getattr(traces, "store", None)
            processor.backfill(store.summaries()[0] if hasattr(store, "summaries") else [])

    # -- metrics
    def metric_entries(self) -> dict[str, Any]:
        if self.metrics is None:
            return {}
        version = self.metrics.version() if hasattr(self.metrics, "version") else None
        cached = self._metrics_cache
        if cached is not None and version is not None and cached[0] == version:
            return cached[1]
        entries = dict(self.metrics.export_metrics().get("metrics", {}))
        self._metrics_cache = (version, entries)
        return entries

    def metric_count(self) -> int:
        if self.metrics is None:
            return 0
        names = getattr(self.metrics, "metric_names", None)
        return len(names()) if callable(names) else len(self.metric_entries())

    # -- logs
    def log_records(self, component: str | None, level: str | None, query: str | None, limit: int,
                    since_ns: int | None = None) -> list[dict[str, Any]]:
        if self.logs is None:
            return []
        if query and search_terms(query):
            return self.logs.search_logs(query, component=component, level=level, limit=limit)
        since = None if since_ns is None else since_ns / 1e9
        return self.logs.get_logs(component=component, level=level, limit=limit, since=since)

    def log_totals(self) -> dict[str, Any]:
        if self.logs is None:
            return {"total": 0, "by_level": {}, "errors": 0, "error_rate": 0.0, "by_component": {}}
        stats = self.logs.get_log_statistics()
        return {k: stats.get(k) for k in ("total", "by_level", "errors", "error_rate", "by_component")}

    # -- traces
    def trace(self, trace_id: str) -> dict[str, Any] | None:
        if self.traces is None:
            return None
        found = self.traces.get_trace(trace_id)
        if found is None:
            return None
        spans = []
        for span in found.get("spans", []):
            span = dict(span)
            span.setdefault("start_unix_nano", _ns_of(span.get("start")))
            spans.append(normalize_span(span))
        return _trace_doc(found, spans)

    def self_telemetry(self) -> dict[str, Any]:
        counts = _selfmon.counts()
        dropped: dict[str, int] = {}
        for (signal, reason), n in counts["dropped"].items():
            dropped[f"{signal}/{reason}"] = n
        errors = dict(counts["errors"])
        return {"dropped_records": sum(dropped.values()), "dropped": dropped,
                "export_errors": sum(n for kind, n in errors.items() if "export" in kind or kind == "flush"),
                "errors": errors}


class HomeSource:
    """A home written by other processes (see ``_home``). Read-only."""

    read_only = True

    def __init__(self, files: HomeFiles) -> None:
        self.files = files

    @property
    def rollup(self) -> TraceRollup:
        return self.files.traces.get().rollup

    def metric_entries(self) -> dict[str, Any]:
        return self.files.metrics.get()

    def metric_count(self) -> int:
        return len(self.metric_entries())

    def log_records(self, component: str | None, level: str | None, query: str | None, limit: int,
                    since_ns: int | None = None) -> list[dict[str, Any]]:
        minimum = _SEVERITY[parse_level(level).name] if level is not None else 0
        terms = search_terms(query)
        found = []
        for record in self.files.logs.get().records:  # newest first
            if since_ns is not None and (record.get("time_unix_nano") or 0) < since_ns:
                break
            if component is not None and record.get("component") != component:
                continue
            if minimum and _SEVERITY.get(str(record.get("level")), 0) < minimum:
                continue
            if terms and not _record_matches(record, terms):
                continue
            found.append(dict(record))
            if len(found) >= limit:
                break
        return found

    def log_totals(self) -> dict[str, Any]:
        return dict(self.files.logs.get().totals)

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        found = self.files.traces.get().by_id.get(trace_id)
        if found is None:
            return None
        spans = sorted((normalize_span(s) for s in found.get("spans", []) if isinstance(s, Mapping)),
                       key=lambda s: s.get("start_unix_nano") or 0)
        return _trace_doc(found, spans)

    def self_telemetry(self) -> dict[str, Any]:
        """From the pipeline's self-metrics in the metrics file (``monitoring_layer_dropped``/``_errors``)."""
        entries = self.metric_entries()
        dropped: dict[str, int] = {}
        errors: dict[str, int] = {}
        for name, target, keys in (("monitoring_layer_dropped", dropped, ("signal", "reason")),
                                   ("monitoring_layer_errors", errors, ("kind",))):
            entry = entries.get(name)
            if not isinstance(entry, Mapping):
                continue
            for series in entry.get("series", []):
                labels = series.get("labels", {})
                key = "/".join(str(labels.get(k, "")) for k in keys)
                value = series.get("sum", series.get("value"))
                points = series.get("points") or []
                if value is None and points:
                    value = points[-1].get("value")
                if isinstance(value, (int, float)):
                    target[key] = target.get(key, 0) + int(value)
        return {"dropped_records": sum(dropped.values()), "dropped": dropped,
                "export_errors": sum(n for kind, n in errors.items() if "export" in kind or kind == "flush"),
                "errors": errors}


def _ns_of(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(moment.timestamp() * 1_000_000) * 1000


def _trace_doc(found: Mapping[str, Any], spans: list[dict[str, Any]]) -> dict[str, Any]:
    start = found.get("start_unix_nano") or _ns_of(found.get("start"))
    if start is None and spans:
        start = spans[0].get("start_unix_nano")
    for span in spans:  # offsets for the waterfall, from the trace's start
        s = span.get("start_unix_nano")
        span["offset_ms"] = None if s is None or start is None else round((s - start) / 1e6, 3)
    return {
        "trace_id": found.get("trace_id"),
        "service": found.get("service"),
        "name": found.get("name"),
        "status": found.get("status"),
        "start": found.get("start"),
        "start_unix_nano": start,
        "duration_ms": found.get("duration_ms"),
        "span_count": len(spans),
        "error_count": sum(1 for s in spans if is_error(s["status"])),
        "spans": spans,
    }


def level_name(level: str | None) -> str | None:
    """``level`` checked and upper-cased (ValueError naming ``level`` otherwise)."""
    if level is None:
        return None
    name = parse_level(level).name
    return name if name in LEVEL_ORDER else None
