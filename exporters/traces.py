"""``JsonFileSpanExporter``: ended spans, grouped by trace, into ``traces/traces.json`` (schema 2).

Statuses are the library's one vocabulary (``monitoring_layer._status``): a span's
``status`` is ``SUCCESS``/``ERROR``/``TIMEOUT``/``CANCELLED``/``ABANDONED`` with
OTel's code beside it as ``otel_status_code``; a trace's is ``SUCCESS`` or ``ERROR``.
Schema 1 files (OTel's code in ``status``) are migrated on read.

Cost model (docs/benchmarks.md): ``export()`` runs on the SDK's batch thread for
every span, but only the newest ``max_traces`` traces of each interval reach the
file. So ``export()`` keeps each span as a compact record (``_spanrec``: usually
already made by the trace store) in a bounded buffer, and the JSON of a trace
is made once, at the write, only for the traces that survive the bounds. The
document this exporter wrote last is kept as one ``(place, trace id, end)``
tuple per trace, ``place`` being where the trace's JSON is in the file (the
file store's places; a trace under 1 KiB keeps its text instead): the next
write re-encodes only the traces that changed, the kernel copies the others
from the old file to the new one, and the kept traces hold nothing the
garbage collector walks. A write with many new traces has their JSON made by the
encoder process (``_encoder``, on another core, by the same ``_new_trace``).
"""

from __future__ import annotations

import bisect
import json
import operator
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import format_span_id, format_trace_id

from monitoring_layer import _selfmon
from monitoring_layer._spanrec import (
    F_ATTRIBUTES,
    F_END,
    F_EVENTS,
    F_KIND,
    F_LINKS,
    F_NAME,
    F_PARENT_ID,
    F_RESOURCE_SERVICE,
    F_SCOPE,
    F_SPAN_ID,
    F_START,
    F_STATUS,
    F_STATUS_MESSAGE,
    SERVICE_ATTRIBUTE,
    SpanRecord,
    record_of,
)
from monitoring_layer._status import (
    ERROR,
    ERROR_STATUSES,
    FACADE_STATUS_ATTRIBUTE,
    SUCCESS,
    migrate_trace_record,
    span_status,
)
from monitoring_layer.config import get_settings

from . import _encoder
from ._encode import NS_PER_DAY, UNKNOWN_SERVICE, duration_ms, iso, iso_second, now_ns, unpack_json
from ._store import JsonFileStore, encode_record, prepare_home
from ._writer import BufferedFileWriter

__all__ = ["JsonFileSpanExporter", "TRACES_FILE", "TRACES_SCHEMA_VERSION", "migrate_traces_document"]

TRACES_FILE = "traces/traces.json"
#: 2: statuses in the library's vocabulary, OTel's code in ``otel_status_code`` (1: OTel's code in ``status``).
TRACES_SCHEMA_VERSION = 2

#: A trace as kept between writes: ``(json text or its place in the file, trace id hex, end_unix_nano)``.
_Encoded = tuple


#: The spans of one trace that reached ``export()`` since the last write: ``(dropped, record...)``.
#: A tuple of untracked records is itself untracked by the garbage collector's next pass, so the
#: thousands of traces waiting for a write are not walked by every collection (a list would be).
_Pending = tuple


class JsonFileSpanExporter(BufferedFileWriter, SpanExporter):
    """An OTel ``SpanExporter`` writing completed spans to ``$MONITORING_HOME/traces/traces.json``.

    Spans are grouped by trace id, merged with what other processes wrote, and
    kept newest first: at most ``max_traces`` traces that ended within
    ``retention_days``, at most ``max_spans_per_trace`` spans each (the rest
    are counted in ``dropped_spans`` and in ``monitoring_layer_dropped_total``).
    Every argument defaults to the process settings (``monitoring_layer.config``).
    """

    signal = "traces"
    files_items = True

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
        self._pending: OrderedDict[int, _Pending] = OrderedDict()
        self._use_encoder_process = settings.traces_encoder_process
        self._encoder = _encoder.EncoderProcess()
        self._init_writer(JsonFileStore(home / TRACES_FILE, "traces", schema_version=TRACES_SCHEMA_VERSION,
                                        migrate=migrate_traces_document),
                          export_interval_s or settings.export_interval_s)

    # -- OTel SpanExporter --------------------------------------------------------

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._stopped:
            return SpanExportResult.FAILURE
        try:
            records = [record_of(span) for span in spans]
        except Exception as exc:  # noqa: BLE001
            _selfmon.fault("export", exc, key="traces encode")
            return SpanExportResult.FAILURE
        with self._buffer_lock:
            self._absorb(records)
        self._mark_dirty()
        return SpanExportResult.SUCCESS

    def add_span(self, span: ReadableSpan) -> None:
        """File one ended span now, in the calling thread: the pipeline's path (``SpanFileFeed``).

        The span's compact record goes into the writer's inbox (no lock, no queue, no
        thread hand-off); every few hundred records one recording thread adds them to
        the buffer in one batch (``_absorb``), with the same bounds and counts as ``export()``.
        """
        if self._stopped:
            _selfmon.dropped("traces", "already_shutdown")
            return
        self._file(record_of(span))

    def _absorb(self, records: list[SpanRecord]) -> None:
        self._count_dropped(self._add_all(self._pending, records))
        self._dirty = True

    def _add_all(self, pending: OrderedDict[int, _Pending], records: Sequence[SpanRecord]) -> tuple[int, int, int]:
        """Buffer ``records``; returns what the bounds dropped: (traces, their spans, spans over a trace's cap)."""
        by_trace: dict[int, list[SpanRecord]] = {}  # one new tuple per trace and batch, not per span
        for record in records:
            group = by_trace.get(record[0])
            if group is None:
                by_trace[record[0]] = [record]
            else:
                group.append(record)
        traces = evicted_spans = over_cap = 0
        cap = self.max_spans_per_trace
        max_traces = self.max_traces
        for trace_id, group in by_trace.items():
            entry = pending.get(trace_id)
            if entry is None:
                if len(pending) >= max_traces:  # older than what the file may keep
                    _, evicted = pending.popitem(last=False)
                    traces += 1
                    evicted_spans += len(evicted) - 1
                if len(group) <= cap:  # a new trace within its cap (most, and every one-span trace)
                    pending[trace_id] = (0, *group)
                    continue
                entry = (0,)
            else:
                pending.move_to_end(trace_id)
            # A span id seen twice is settled at the write (the last one wins).
            kept = group[: max(0, cap + 1 - len(entry))]
            over = len(group) - len(kept)
            over_cap += over
            pending[trace_id] = (entry[0] + over, *entry[1:], *kept)
        return traces, evicted_spans, over_cap

    @staticmethod
    def _count_dropped(dropped: tuple[int, int, int]) -> None:
        traces, evicted_spans, over_cap = dropped
        if traces:
            _selfmon.dropped("traces", "retention_count", traces)
            _selfmon.dropped("spans", "retention_count", evicted_spans)
        if over_cap:
            _selfmon.dropped("spans", "max_spans_per_trace", over_cap)

    # -- BufferedFileWriter -------------------------------------------------------

    def _take_pending(self) -> Any:
        if not self._pending:
            return None
        pending, self._pending = self._pending, OrderedDict()
        return pending

    def _restore_pending(self, pending: Any) -> None:
        newer, self._pending = self._pending, pending
        dropped = [0, 0, 0]
        for trace_id, entry in newer.items():
            counts = self._add_all(self._pending, entry[1:])
            dropped = [a + b for a, b in zip(dropped, counts)]
            kept = self._pending.get(trace_id)
            if kept is not None:  # spans over the trace's cap before the failed write stay in its count
                self._pending[trace_id] = (kept[0] + entry[0], *kept[1:])
        self._count_dropped((dropped[0], dropped[1], dropped[2]))

    def _reset_pending(self) -> None:
        self._pending = OrderedDict()

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        super().shutdown(timeout_millis, **kwargs)
        self._encoder.close()

    def _after_fork(self) -> None:
        super()._after_fork()
        self._encoder.after_fork_in_child()

    def _merge(self, doc: dict[str, Any], pending: Any) -> dict[str, Any]:
        # What this process wrote last comes back as (place or text, id, end) tuples, newest first; a
        # document read from disk (another process wrote since) has dicts: each is validated and
        # encoded once. Past that, the work on the kept traces is done by C loops (dict, sort,
        # bisect, slice), so a write costs Python time for the new traces only, not for the cap.
        traces = doc.get("traces") or []
        if not set(map(type, traces)) <= _TUPLE_ONLY:  # a C loop, like everything on the kept traces
            traces = [_encoded(t) if isinstance(t, dict) else t for t in traces if _valid(t)]
        by_id: dict[str, _Encoded] = dict(zip(map(_ID, traces), traces))
        over_cap = 0
        max_spans = self.max_spans_per_trace
        # Few containers of the cap's size at once (at the largest cap each holds 100,000 entries,
        # and a full collection during the write walks every one of them): no list of every id, and
        # the new traces' texts go straight into by_id. "%032x" = format_trace_id.
        new = [(trace_id, entry) for trace_id, entry in zip(map(_HEX_TRACE_ID, pending), pending.values())
               if trace_id not in by_id]
        held = [] if len(new) == len(pending) else [  # traces the file holds already (few, if any)
            (trace_id, entry) for trace_id, entry in zip(map(_HEX_TRACE_ID, pending), pending.values())
            if trace_id in by_id]
        # The new traces (nearly all of them under load) in one batch: by the encoder process when
        # there are many, else here. A trace the file holds already is merged with it here.
        done = (self._encoder.encode(max_spans, new) if len(new) >= _encoder.MIN_TRACES
                and self._use_encoder_process else None)
        if done is None:
            done = [_new_trace(trace_id, entry, max_spans) for trace_id, entry in new]
        for (trace_id, _), (text, end, over) in zip(new, done):
            by_id[trace_id] = (text, trace_id, end)
            over_cap += over
        del new, done
        for trace_id, entry in held:
            old_doc = json.loads(self._store.record_text(by_id[trace_id]))
            # The file's copy may come from another process or a hand: a span missing what a trace's
            # summary reads is left out, and counted in the trace's own dropped_spans, rather than
            # failing this write and every later one.
            valid = [s for s in old_doc["spans"] if _valid_span(s)]
            spans = {s["span_id"]: s for s in valid}
            earlier = old_doc.get("dropped_spans")
            dropped = (earlier if type(earlier) is int else 0) + len(old_doc["spans"]) - len(valid) + entry[0]
            for record in entry[1:]:
                span_id = "%016x" % record[F_SPAN_ID]
                if span_id in spans or len(spans) < max_spans:
                    spans[span_id] = _span_record(record, span_id)
                else:
                    dropped += 1
                    over_cap += 1
            by_id[trace_id] = _encoded(_trace_record(trace_id, spans, dropped))
        if over_cap:
            _selfmon.dropped("spans", "max_spans_per_trace", over_cap)

        kept = list(by_id.values())
        kept.sort(key=_END, reverse=True)  # nearly sorted already: a few C comparisons per trace
        horizon = now_ns() - int(self.retention_days * NS_PER_DAY)
        young = bisect.bisect_right(kept, -horizon, key=_NEGATIVE_END)  # those ended at or after the horizon
        _selfmon.dropped("traces", "retention_age", len(kept) - young)
        _selfmon.dropped("traces", "retention_count", max(0, young - self.max_traces))
        # A tuple, not a list: a list is walked by every full collection, a tuple of untracked tuples
        # stops being tracked (by the second full collection after a write, the first untracks the new
        # traces' tuples), so the kept traces (100,000 at the largest cap) cost the later ones nothing.
        doc["traces"] = tuple(kept[: min(young, self.max_traces)])
        doc["updated"] = iso(now_ns())
        return doc


_ID = operator.itemgetter(1)
_HEX_TRACE_ID = "%032x".__mod__
_TUPLE_ONLY = {tuple}
_END = operator.itemgetter(2)


def _NEGATIVE_END(trace: _Encoded) -> int:  # noqa: N802 - a key, like _END
    return -trace[2]  # type: ignore[no-any-return]


def _valid(trace: Any) -> bool:
    return type(trace) is tuple or (
        isinstance(trace, dict) and isinstance(trace.get("trace_id"), str)
        and isinstance(trace.get("end_unix_nano"), int) and isinstance(trace.get("spans"), list))


def _valid_span(span: Any) -> bool:
    """Whether a span read from the file has what ``_trace_record`` reads."""
    if not isinstance(span, dict):
        return False
    parent = span.get("parent_span_id")
    return (isinstance(span.get("span_id"), str) and (parent is None or isinstance(parent, str))
            and type(span.get("start_unix_nano")) is int and type(span.get("end_unix_nano")) is int
            and all(isinstance(span.get(key), str) for key in ("name", "service", "status", "start", "end")))


def _encoded(trace: dict[str, Any]) -> _Encoded:
    return (encode_record(trace), trace["trace_id"], trace["end_unix_nano"])


def _new_trace(trace_id: str, entry: _Pending, max_spans: int) -> tuple[str, int, int]:
    """A trace the file does not hold yet, from its pending spans: ``(JSON text, end, spans over the cap)``.

    Made here or in the encoder process (``_encoder``): the same function, so the same text.
    The dicts of one trace at a time are alive, not the whole file's.
    """
    spans: dict[str, dict[str, Any]] = {}
    dropped = entry[0]
    over = 0
    for record in entry[1:]:
        span_id = "%016x" % record[F_SPAN_ID]  # = format_span_id, at half the cost
        if span_id in spans or len(spans) < max_spans:  # a span id seen twice: the last one wins
            spans[span_id] = _span_record(record, span_id)
        else:
            dropped += 1
            over += 1
    trace = _trace_record(trace_id, spans, dropped)
    return encode_record(trace), trace["end_unix_nano"], over


def _span_record(record: SpanRecord, span_id: str) -> dict[str, Any]:
    # Once per span written (the writer's main cost under load): one pass over the attributes,
    # "%016x" rather than format_span_id (the same text at half the cost), and the two
    # timestamps' texts from one cached second when the span starts and ends within it
    # (``iso``'s own cache, read once: the same text as two ``iso`` calls, without the calls).
    start = record[F_START]
    end = record[F_END]
    if end is None:
        end = start
    parent = record[F_PARENT_ID]
    attrs = unpack_json(record, F_ATTRIBUTES)
    start_us = start // 1000
    end_us = end // 1000
    second, prefix = iso_second()
    start_text: str | None
    end_text: str | None
    if start_us // 1_000_000 == second == end_us // 1_000_000:
        start_text = prefix + "%06dZ" % (start_us % 1_000_000)
        end_text = prefix + "%06dZ" % (end_us % 1_000_000)
    else:
        start_text = iso(start)
        end_text = iso(end)
    events = record[F_EVENTS]
    links = record[F_LINKS]
    return {
        "span_id": span_id,
        "parent_span_id": "%016x" % parent if parent is not None else None,
        "name": record[F_NAME],
        "kind": record[F_KIND],
        # The tracing collector's service of a trace (start_trace) beats the process's resource.
        "service": str(attrs.get(SERVICE_ATTRIBUTE) or record[F_RESOURCE_SERVICE]),
        "scope": record[F_SCOPE],
        "start": start_text,
        "start_unix_nano": start,
        "end": end_text,
        "end_unix_nano": end,
        "duration_ms": duration_ms(start, end),
        "status": span_status(record[F_STATUS], attrs.get(FACADE_STATUS_ATTRIBUTE)),
        "otel_status_code": record[F_STATUS],  # OTel's code name, as the record keeps it
        "status_message": record[F_STATUS_MESSAGE],
        "attributes": attrs,
        "events": [
            {"name": name, "time": iso(timestamp), "time_unix_nano": timestamp, "attributes": unpack_json(packed)}
            for name, timestamp, packed in events
        ] if events else [],
        "links": [
            {"trace_id": format_trace_id(trace_id), "span_id": format_span_id(span_id),
             "attributes": unpack_json(packed)}
            for trace_id, span_id, packed in links
        ] if links else [],
    }


def _trace_record(trace_id: str, by_span_id: dict[str, dict[str, Any]], dropped: int) -> dict[str, Any]:
    if len(by_span_id) == 1:  # the common one-span trace: its span's fields, formatted once
        (root,) = by_span_id.values()
        spans = [root]
        complete = not root["parent_span_id"]
        start, end = root["start_unix_nano"], root["end_unix_nano"]
        start_text, end_text, duration = root["start"], root["end"], root["duration_ms"]
        failed = root["status"] in ERROR_STATUSES
    else:
        spans = sorted(by_span_id.values(), key=_START)
        # One pass (this runs for every new trace written): the root is the first span whose
        # parent is not in the trace (none, or another process's), else the first span.
        found: dict[str, Any] | None = None
        last = spans[0]
        end = last["end_unix_nano"]
        complete = failed = False
        for span in spans:
            parent = span["parent_span_id"]
            if not parent:
                complete = True
            if found is None and (not parent or parent not in by_span_id):
                found = span
            if span["end_unix_nano"] > end:  # the first of the latest, as max() would pick
                last, end = span, span["end_unix_nano"]
            if span["status"] in ERROR_STATUSES:
                failed = True
        root = found or spans[0]
        service = root["service"]
        if not service.startswith(UNKNOWN_SERVICE):
            # A span that names no service of its own (its resource's is OTel's default) belongs to
            # its trace's, as the queries and the dashboard show it: a child of start_trace("api")
            # is the api's, not "unknown_service:python".
            for span in spans:
                if span["service"].startswith(UNKNOWN_SERVICE):
                    span["service"] = service
        start = spans[0]["start_unix_nano"]
        start_text, end_text, duration = spans[0]["start"], last["end"], duration_ms(start, end)
    return {
        "trace_id": trace_id,
        "service": root["service"],
        "name": root["name"],
        "root_span_id": root["span_id"],
        "complete": complete,
        "status": ERROR if failed else SUCCESS,
        "start": start_text,
        "start_unix_nano": start,
        "end": end_text,
        "end_unix_nano": end,
        "duration_ms": duration,
        "span_count": len(spans),
        "dropped_spans": dropped,
        "spans": spans,
    }


_START = operator.itemgetter("start_unix_nano")


def migrate_traces_document(doc: dict[str, Any]) -> dict[str, Any]:
    """A schema 1 traces document as schema 2 (statuses as words, OTel's code in ``otel_status_code``)."""
    for trace in doc.get("traces") or []:
        if isinstance(trace, dict):
            migrate_trace_record(trace)
    doc["schema_version"] = TRACES_SCHEMA_VERSION
    return doc
