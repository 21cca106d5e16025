"""``JsonFileLogExporter``: OTel log records into ``logs/logs.json``.

Cost model (docs/benchmarks.md): ``export()`` keeps each SDK record as one flat
tuple of atoms (``_flatten``) in a buffer bounded by what the file may keep
(``max_records``); a record becomes JSON at the write, and only if it is still
among the newest. Under load most records are pushed out of the buffer before
that, without ever being converted. Flat, because the SDK's record is about six
objects the garbage collector tracks (record, its dict, attributes, context...):
a thousand of them waiting for the write lengthened every full collection in the
host's threads; a tuple of atoms stops being tracked at its first collection.
The document written last is kept as ``(json text, time_unix_nano)`` tuples:
the next write re-reads and re-encodes nothing it already had.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.trace import format_span_id, format_trace_id

from monitoring_layer import _selfmon
from monitoring_layer._encode import level_name
from monitoring_layer.config import get_settings

from ._encode import NS_PER_DAY, cached_resource_service, iso, json_value, now_ns, unpack_json
from ._store import JsonFileStore, encode_record, prepare_home
from ._writer import BufferedFileWriter

try:  # the result enum was renamed in newer SDKs
    from opentelemetry.sdk._logs.export import LogRecordExportResult as _Result
except ImportError:  # pragma: no cover - older SDK
    from opentelemetry.sdk._logs.export import LogExportResult as _Result  # type: ignore[no-redef,assignment]

__all__ = ["JsonFileLogExporter", "LOGS_FILE", "level_name"]

LOGS_FILE = "logs/logs.json"

# OTel severity numbers -> the five level names of the spec (and TRACE).
class JsonFileLogExporter(BufferedFileWriter, LogRecordExporter):
    """An OTel ``LogRecordExporter`` writing to ``$MONITORING_HOME/logs/logs.json``.

    Keeps, newest first, at most ``max_records`` records from the last
    ``retention_days``, merged with what other processes wrote. What the bounds
    drop is counted in ``monitoring_layer_dropped_total{signal="logs"}``.
    """

    signal = "logs"
    files_items = True

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        max_records: int | None = None,
        retention_days: float | None = None,
        export_interval_s: float | None = None,
    ) -> None:
        settings = get_settings()
        home = prepare_home(Path(home) if home is not None else settings.home, "logs")
        self.max_records = max_records or settings.logs_max_records
        self.retention_days = retention_days or settings.logs_retention_days
        self._pending: deque[tuple[Any, ...]] = deque()  # ``_flatten``ed records, converted at the write
        self._init_writer(JsonFileStore(home / LOGS_FILE, "logs"),
                          export_interval_s or settings.export_interval_s)

    def export(self, batch: Sequence[Any]) -> Any:
        if self._stopped:
            return _Result.FAILURE
        skipped = max(0, len(batch) - self.max_records)  # older than what the file may keep
        items = batch[skipped:] if skipped else batch
        failed = 0
        try:
            flat = _flatten(items)
        except Exception:  # noqa: BLE001 - one bad record must not cost the others: find it
            flat = []
            for item in items:
                try:
                    flat += _flatten((item,))
                except Exception as exc:  # noqa: BLE001
                    failed += 1
                    _selfmon.fault("export", exc, key="logs encode")
        with self._buffer_lock:
            self._absorb(flat)
        _selfmon.dropped("logs", "unencodable", failed)
        _selfmon.dropped("logs", "retention_count", skipped)
        self._mark_dirty()
        return _Result.SUCCESS

    def add_record(self, item: Any) -> None:
        """File one emitted record now, in the calling thread: the pipeline's path (``LogFileFeed``).

        ``item`` is what a log processor receives (a ``ReadWriteLogRecord``); the same bound
        and counts as ``export()``, one record at a time, without the batch processor's copy.
        """
        if self._stopped:
            _selfmon.dropped("logs", "already_shutdown")
            return
        try:
            flat = _flatten_one(item)
        except Exception as exc:  # noqa: BLE001
            _selfmon.fault("export", exc, key="logs encode")
            _selfmon.dropped("logs", "unencodable")
            return
        self._file(flat)

    def _absorb(self, flat: list[tuple[Any, ...]]) -> None:
        pending = self._pending
        pending.extend(flat)
        overflow = len(pending) - self.max_records  # older than what the file may keep
        if overflow > 0:
            for _ in range(overflow):
                pending.popleft()
            _selfmon.dropped("logs", "retention_count", overflow)
        self._dirty = True

    def _take_pending(self) -> Any:
        if not self._pending:
            return None
        pending, self._pending = self._pending, deque()
        return pending

    def _restore_pending(self, pending: Any) -> None:
        pending.extend(self._pending)
        while len(pending) > self.max_records:
            pending.popleft()
            _selfmon.dropped("logs", "retention_count", 1)
        self._pending = pending

    def _reset_pending(self) -> None:
        self._pending = deque()

    def _merge(self, doc: dict[str, Any], pending: Any) -> dict[str, Any]:
        # What this process wrote last comes back as (text or place, time) tuples; a document read from
        # disk (another process wrote since) has dicts, each encoded once here.
        records: list[tuple[Any, int] | dict[str, Any]] = [
            r for r in doc.get("records") or []
            if isinstance(r, tuple) or (isinstance(r, dict) and isinstance(r.get("time_unix_nano"), int))]
        failed = 0
        for item in pending:
            try:
                records.append(_log_record(item))
            except Exception as exc:  # noqa: BLE001 - one bad record must not cost the others
                failed += 1
                _selfmon.fault("export", exc, key="logs encode")
        _selfmon.dropped("logs", "unencodable", failed)
        horizon = now_ns() - int(self.retention_days * NS_PER_DAY)
        kept = [r for r in records if _time_of(r) >= horizon]
        _selfmon.dropped("logs", "retention_age", len(records) - len(kept))
        kept.sort(key=_time_of, reverse=True)
        _selfmon.dropped("logs", "retention_count", max(0, len(kept) - self.max_records))
        doc["records"] = [r if isinstance(r, tuple) else (encode_record(r), r["time_unix_nano"])
                          for r in kept[: self.max_records]]
        doc["updated"] = iso(now_ns())
        return doc


def _time_of(record: tuple[Any, int] | dict[str, Any]) -> int:
    return int(record[1] if isinstance(record, tuple) else record["time_unix_nano"])


# A pending record, flat: these fields, then the attribute names, then their values.
_TS, _SEV, _TEXT, _BODY, _TRACE, _SPAN, _SERVICE, _SCOPE = range(8)
_ATTRS = 8


def _flatten(items: Sequence[Any]) -> list[tuple[Any, ...]]:
    """SDK log records as tuples of atoms (a body that is a mapping or a list stays one object)."""
    return [_flatten_one(item) for item in items]


def _flatten_one(item: Any) -> tuple[Any, ...]:
    """One SDK log record as a tuple of atoms: the fields above, the attribute names, their values."""
    # SDK >= 1.39 hands ReadableLogRecord/ReadWriteLogRecord(log_record=..., resource=...); older
    # ones a LogData(log_record=...) whose record carries the resource.
    record = item.log_record
    scope = getattr(item, "instrumentation_scope", None)
    severity = record.severity_number
    attrs = record.attributes or ()
    return (record.timestamp or record.observed_timestamp or now_ns(),
            severity._value_ if severity is not None else None,  # Enum.value is a slow property
            record.severity_text, record.body, record.trace_id or 0, record.span_id or 0,
            cached_resource_service(getattr(item, "resource", None) or getattr(record, "resource", None)),
            scope.name if scope is not None else "", *attrs, *(attrs.values() if attrs else ()))


def _log_record(flat: tuple[Any, ...]) -> dict[str, Any]:
    timestamp, severity, body, trace_id, span_id = flat[_TS], flat[_SEV], flat[_BODY], flat[_TRACE], flat[_SPAN]
    attrs = unpack_json(flat, _ATTRS)
    return {
        "time": iso(timestamp),
        "time_unix_nano": timestamp,
        "level": level_name(severity),
        "severity_number": severity,
        "severity_text": flat[_TEXT],
        "component": str(attrs.get("component", flat[_SCOPE])),
        "message": body if isinstance(body, str) else json.dumps(json_value(body), ensure_ascii=False),
        "attributes": attrs,
        "trace_id": format_trace_id(trace_id) if trace_id else None,
        "span_id": format_span_id(span_id) if span_id else None,
        "service": flat[_SERVICE],
    }
