"""``JsonFileSpanExporter``: ended spans, grouped by trace, into ``traces/traces.json``."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import format_span_id, format_trace_id

from monitoring_layer import _selfmon
from monitoring_layer.config import get_settings

from ._encode import NS_PER_DAY, attributes, iso, now_ns, resource_service
from ._store import JsonFileStore, prepare_home
from ._writer import BufferedFileWriter

__all__ = ["JsonFileSpanExporter", "TRACES_FILE"]

TRACES_FILE = "traces/traces.json"


class JsonFileSpanExporter(BufferedFileWriter, SpanExporter):
    """An OTel ``SpanExporter`` writing completed spans to ``$MONITORING_HOME/traces/traces.json``.

    Spans are grouped by trace id, merged with what other processes wrote, and
    kept newest first: at most ``max_traces`` traces that ended within
    ``retention_days``, at most ``max_spans_per_trace`` spans each (the rest
    are counted in ``dropped_spans`` and in ``monitoring_layer_dropped_total``).
    Every argument defaults to the process settings (``monitoring_layer.config``).
    """

    signal = "traces"

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        max_traces: int | None = None,
        retention_days: float | None = None,
        max_spans_per_trace: int | None = None,
        export_interval_s: float | None = None,
    ) -> None:
        settings = get_settings()
        home = prepare_home(Path(home) if home is not None else settings.home, "traces")
        self.max_traces = max_traces or settings.traces_max_traces
        self.retention_days = retention_days or settings.traces_retention_days
        self.max_spans_per_trace = max_spans_per_trace or settings.traces_max_spans_per_trace
        self._pending: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._init_writer(JsonFileStore(home / TRACES_FILE, "traces", records_immutable=True),
                          export_interval_s or settings.export_interval_s)

    # -- OTel SpanExporter --------------------------------------------------------

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._stopped:
            return SpanExportResult.FAILURE
        try:
            records = [_span_record(span) for span in spans]
        except Exception as exc:  # noqa: BLE001
            _selfmon.fault("export", exc, key="traces encode")
            return SpanExportResult.FAILURE
        with self._buffer_lock:
            for record in records:
                self._add(self._pending, record)
        self._mark_dirty()
        return SpanExportResult.SUCCESS

    def _add(self, traces: OrderedDict[str, dict[str, Any]], record: dict[str, Any]) -> None:
        trace_id = record.pop("trace_id")
        entry = traces.get(trace_id)
        if entry is None:
            entry = traces[trace_id] = {"spans": {}, "dropped_spans": 0}
            if len(traces) > self.max_traces:
                _, evicted = traces.popitem(last=False)
                _selfmon.dropped("traces", "retention_count", 1)
                _selfmon.dropped("spans", "retention_count", len(evicted["spans"]))
        else:
            traces.move_to_end(trace_id)
        spans = entry["spans"]
        if record["span_id"] in spans or len(spans) < self.max_spans_per_trace:
            spans[record["span_id"]] = record
        else:
            entry["dropped_spans"] += 1
            _selfmon.dropped("spans", "max_spans_per_trace", 1)

    # -- BufferedFileWriter -------------------------------------------------------

    def _take_pending(self) -> Any:
        if not self._pending:
            return None
        pending, self._pending = self._pending, OrderedDict()
        return pending

    def _restore_pending(self, pending: Any) -> None:
        for trace_id, entry in pending.items():
            for record in entry["spans"].values():
                self._add(self._pending, {**record, "trace_id": trace_id})

    def _reset_pending(self) -> None:
        self._pending = OrderedDict()

    def _merge(self, doc: dict[str, Any], pending: Any) -> dict[str, Any]:
        # Traces nobody touched since the last write keep their record as read;
        # only those with new spans are rebuilt (a write stays cheap at 10,000 traces).
        by_id: dict[str, dict[str, Any]] = {
            trace["trace_id"]: trace
            for trace in doc.get("traces") or []
            if isinstance(trace, dict) and isinstance(trace.get("trace_id"), str)
            and isinstance(trace.get("end_unix_nano"), int) and isinstance(trace.get("spans"), list)
        }
        for trace_id, entry in pending.items():
            old = by_id.get(trace_id)
            spans = {s["span_id"]: s for s in old["spans"] if isinstance(s, dict) and "span_id" in s} if old else {}
            dropped = int(old.get("dropped_spans", 0)) + entry["dropped_spans"] if old else entry["dropped_spans"]
            for span_id, record in entry["spans"].items():
                if span_id in spans or len(spans) < self.max_spans_per_trace:
                    spans[span_id] = record
                else:
                    dropped += 1
                    _selfmon.dropped("spans", "max_spans_per_trace", 1)
            by_id[trace_id] = _trace_record(trace_id, spans, dropped)

        traces = list(by_id.values())
        horizon = now_ns() - int(self.retention_days * NS_PER_DAY)
        kept = [t for t in traces if t["end_unix_nano"] >= horizon]
        _selfmon.dropped("traces", "retention_age", len(traces) - len(kept))
        kept.sort(key=lambda t: t["end_unix_nano"], reverse=True)
        _selfmon.dropped("traces", "retention_count", max(0, len(kept) - self.max_traces))
        doc["traces"] = kept[: self.max_traces]
        doc["updated"] = iso(now_ns())
        return doc


_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


def _span_record(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.context
    start = span.start_time or 0
    end = span.end_time or start
    parent = span.parent
    scope = span.instrumentation_scope
    return {
        "trace_id": format_trace_id(ctx.trace_id),
        "span_id": format_span_id(ctx.span_id),
        "parent_span_id": format_span_id(parent.span_id) if parent is not None else None,
        "name": span.name,
        "kind": span.kind.name,
        # The tracing collector's service of a trace (start_trace) beats the process's resource.
        "service": str((span.attributes or {}).get("monitoring.service") or resource_service(span.resource)),
        "scope": scope.name if scope is not None else None,
        "start": iso(start),
        "start_unix_nano": start,
        "end": iso(end),
        "end_unix_nano": end,
        "duration_ms": round((end - start) / 1e6, 6),
        "status": _STATUS.get(span.status.status_code.value, "UNSET"),
        "status_message": span.status.description,
        "attributes": attributes(span.attributes),
        "events": [
            {"name": e.name, "time": iso(e.timestamp), "time_unix_nano": e.timestamp,
             "attributes": attributes(e.attributes)}
            for e in span.events
        ],
        "links": [
            {"trace_id": format_trace_id(link.context.trace_id),
             "span_id": format_span_id(link.context.span_id),
             "attributes": attributes(link.attributes)}
            for link in span.links
        ],
    }


def _trace_record(trace_id: str, by_span_id: dict[str, dict[str, Any]], dropped: int) -> dict[str, Any]:
    spans = sorted(by_span_id.values(), key=lambda s: s["start_unix_nano"])
    ids = {s["span_id"] for s in spans}
    roots = [s for s in spans if not s["parent_span_id"] or s["parent_span_id"] not in ids]
    root = roots[0] if roots else spans[0]
    start = min(s["start_unix_nano"] for s in spans)
    end = max(s["end_unix_nano"] for s in spans)
    return {
        "trace_id": trace_id,
        "service": root["service"],
        "name": root["name"],
        "root_span_id": root["span_id"],
        "complete": any(not s["parent_span_id"] for s in spans),
        "status": "ERROR" if any(s["status"] == "ERROR" for s in spans) else "OK",
        "start": iso(start),
        "start_unix_nano": start,
        "end": iso(end),
        "end_unix_nano": end,
        "duration_ms": round((end - start) / 1e6, 6),
        "span_count": len(spans),
        "dropped_spans": dropped,
        "spans": spans,
    }
