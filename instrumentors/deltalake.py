"""``DeltaLakeInstrumentor``: metrics and spans for delta-rs (the ``deltalake`` package) writes and reads.

``instrument()`` replaces ``deltalake.write_deltalake`` (in every deltalake
module that exports it) and wraps ``DeltaTable.to_pyarrow_table`` and
``DeltaTable.to_pandas``; ``uninstrument()`` restores them. Code that did
``from deltalake import write_deltalake`` before ``instrument()`` keeps the
original function.

* write: an INTERNAL span ``delta.write``; ``lakehouse_records_ingested{table}``
  by the rows the commit added (delta-rs' own ``num_added_rows`` in the
  commit's metrics; the input's row count when the commit has none);
  ``lakehouse_data_size_gb{table}``: the size of the table's current files,
  from the log's add actions; ``lakehouse_quality_score{table}`` from the
  optional ``quality_validator(table, data) -> 0..100`` hook, called after the
  write with the data as given (a stream has been consumed by then).
* read: an INTERNAL span ``delta.read``; ``lakehouse_records_processed{table}``
  by the rows returned, and the size gauge of the version read.

``table`` is the table's URI as delta-rs normalises it (``file:///data/orders``),
so writes and reads of one table share their series. Lazy reads
(``to_pyarrow_dataset``, ``QueryBuilder``) are not counted: nothing is read
when they return.
"""

from __future__ import annotations

import contextvars
import functools
import os
from collections.abc import Callable, Collection
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.trace import SpanKind

from ._common import Sink, contained, end_span, fault

__all__ = ["DeltaLakeInstrumentor"]

_SCOPE = "monitoring_layer.instrumentors.deltalake"
_WRITER_MODULES = ("deltalake", "deltalake.writer", "deltalake.writer.writer")
_READS = ("to_pyarrow_table", "to_pandas")
_MISSING = object()
_IN_CALL: contextvars.ContextVar[bool] = contextvars.ContextVar("monitoring_layer_delta_call", default=False)
QualityValidator = Callable[[str, Any], float]


def _rows(data: Any) -> int | None:
    """Row count of materialised data (pyarrow Table/RecordBatch, pandas/polars DataFrame), else None."""
    rows = getattr(data, "num_rows", None)
    if isinstance(rows, int):
        return rows
    if hasattr(data, "columns") and hasattr(data, "__len__"):
        return len(data)
    return None


def _label(table: Any) -> str:
    return str(table.table_uri).rstrip("/")


def _size_bytes(table: Any) -> int:
    import pyarrow  # type: ignore[import-untyped]
    import pyarrow.compute  # type: ignore[import-untyped]

    actions = pyarrow.table(table.get_add_actions(flatten=True))
    if actions.num_rows == 0:
        return 0
    return int(pyarrow.compute.sum(actions.column("size_bytes")).as_py() or 0)


class _DeltaRecorder:
    def __init__(self, sink: Sink, quality_validator: QualityValidator | None) -> None:
        self.sink = sink
        self.quality_validator = quality_validator

    def _start(self, name: str, attributes: dict[str, Any]) -> tuple[Any, Any]:
        span = self.sink.tracer().start_span(name, kind=SpanKind.INTERNAL, attributes=attributes)
        return span, otel_context.attach(otel_trace.set_span_in_context(span))

    # -- writes ------------------------------------------------------------------------

    def write(self, original: Callable[..., Any], table_or_uri: Any, data: Any, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> Any:
        if not self.sink.active or _IN_CALL.get():
            return original(table_or_uri, data, *args, **kwargs)
        try:
            mode = str(kwargs.get("mode", "error"))
            before = self._version_before(table_or_uri, kwargs) if mode == "ignore" else None
            span, token = self._start("delta.write", {"delta.write.mode": mode})
        except Exception as exc:  # noqa: BLE001
            fault(exc, "delta write")
            return original(table_or_uri, data, *args, **kwargs)
        flag = _IN_CALL.set(True)
        try:
            result = original(table_or_uri, data, *args, **kwargs)
        except BaseException as exc:
            _IN_CALL.reset(flag)
            otel_context.detach(token)
            with contained("delta write"):
                end_span(span, exc)
            raise
        _IN_CALL.reset(flag)
        otel_context.detach(token)
        try:
            with contained("delta write"):
                self._written(table_or_uri, data, kwargs, before, span)
        finally:
            with contained("delta write"):
                end_span(span, None)
        return result

    def _open(self, table_or_uri: Any, kwargs: dict[str, Any]) -> Any:
        from deltalake import DeltaTable

        if isinstance(table_or_uri, DeltaTable):  # delta-rs moves it to the version it wrote
            return table_or_uri
        return DeltaTable(os.fspath(table_or_uri), storage_options=kwargs.get("storage_options"))

    def _version_before(self, table_or_uri: Any, kwargs: dict[str, Any]) -> int | None:
        from deltalake.exceptions import TableNotFoundError

        try:
            return int(self._open(table_or_uri, kwargs).version())
        except TableNotFoundError:
            return None

    def _written(self, table_or_uri: Any, data: Any, kwargs: dict[str, Any], before: int | None,
                 span: Any) -> None:
        table = self._open(table_or_uri, kwargs)
        label = _label(table)
        version = int(table.version())
        span.set_attribute("delta.table.uri", label)
        span.set_attribute("delta.table.version", version)
        rows = 0
        if before is None or version > before:  # mode="ignore" on an existing table commits nothing
            commit = table.history(1)[0]
            added = (commit.get("operationMetrics") or {}).get("num_added_rows")
            rows = int(added) if isinstance(added, int) else (_rows(data) or 0)
        span.set_attribute("delta.rows", rows)
        labels = {"table": label}
        # each record on its own: one failing does not cost the others
        if rows:
            with contained("delta write count"):
                self.sink.metrics().increment_counter("lakehouse_records_ingested", rows, labels)
        with contained("delta write size"):
            self.sink.metrics().set_gauge("lakehouse_data_size_gb", _size_bytes(table) / 1e9, labels)
        if self.quality_validator is not None:
            self._quality(label, data)

    def _quality(self, label: str, data: Any) -> None:
        try:
            score = self.quality_validator(label, data)  # type: ignore[misc]
            if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 100:
                raise ValueError(f"quality_validator must return a number from 0 to 100, returned {score!r}")
        except Exception as exc:  # noqa: BLE001 - the user's hook: contained like our own faults
            fault(exc, "delta quality_validator")
            return
        self.sink.metrics().set_gauge("lakehouse_quality_score", float(score), {"table": label})

    # -- reads -------------------------------------------------------------------------

    def read(self, original: Callable[..., Any], table: Any, method: str, args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> Any:
        if not self.sink.active or _IN_CALL.get():
            return original(table, *args, **kwargs)
        try:
            span, token = self._start("delta.read", {"delta.table.uri": _label(table),
                                                     "delta.table.version": int(table.version()),
                                                     "delta.read.method": method})
        except Exception as exc:  # noqa: BLE001
            fault(exc, "delta read")
            return original(table, *args, **kwargs)
        flag = _IN_CALL.set(True)
        try:
            result = original(table, *args, **kwargs)
        except BaseException as exc:
            _IN_CALL.reset(flag)
            otel_context.detach(token)
            with contained("delta read"):
                end_span(span, exc)
            raise
        _IN_CALL.reset(flag)
        otel_context.detach(token)
        try:
            with contained("delta read"):
                self._read(table, result, span)
        finally:
            with contained("delta read"):
                end_span(span, None)
        return result


    def _read(self, table: Any, result: Any, span: Any) -> None:
        label = _label(table)
        rows = _rows(result) or 0
        span.set_attribute("delta.rows", rows)
        # each record on its own: one failing does not cost the other
        if rows:
            with contained("delta read count"):
                self.sink.metrics().increment_counter("lakehouse_records_processed", rows, {"table": label})
        with contained("delta read size"):
            self.sink.metrics().set_gauge("lakehouse_data_size_gb", _size_bytes(table) / 1e9, {"table": label})


class DeltaLakeInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """delta-rs: ``lakehouse_records_ingested``, ``lakehouse_records_processed``,
    ``lakehouse_data_size_gb``, ``lakehouse_quality_score``; spans ``delta.write`` / ``delta.read``.

    ``instrument(metrics_collector=None, tracer_provider=None, quality_validator=None)``;
    ``quality_validator(table_uri, data)`` returns a score from 0 to 100 (its faults are contained
    and counted, like ours).
    """

    _recorder: _DeltaRecorder | None = None
    _saved: list[tuple[Any, str, Any]] = []

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("deltalake >= 0.18",)

    def _instrument(self, **kwargs: Any) -> None:
        import importlib

        from deltalake import DeltaTable

        validator = kwargs.get("quality_validator")
        if validator is not None and not callable(validator):
            raise TypeError(f"quality_validator must be callable, not {type(validator).__name__}")
        recorder = _DeltaRecorder(Sink("lakehouse", _SCOPE, kwargs.get("metrics_collector"),
                                       kwargs.get("tracer_provider")), validator)
        saved: list[tuple[Any, str, Any]] = []
        original_write = importlib.import_module("deltalake").write_deltalake

        @functools.wraps(original_write)
        def write_deltalake(table_or_uri: Any, data: Any, *args: Any, **kw: Any) -> Any:
            return recorder.write(original_write, table_or_uri, data, args, kw)

        for name in _WRITER_MODULES:
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            if getattr(module, "write_deltalake", None) is original_write:
                saved.append((module, "write_deltalake", original_write))
                module.write_deltalake = write_deltalake  # type: ignore[attr-defined]
        for method in _READS:
            original = getattr(DeltaTable, method, None)
            if original is None:
                continue
            saved.append((DeltaTable, method, DeltaTable.__dict__.get(method, _MISSING)))
            setattr(DeltaTable, method, _read_wrapper(recorder, original, method))
        self._recorder, self._saved = recorder, saved

    def _uninstrument(self, **kwargs: Any) -> None:
        for owner, name, original in reversed(self._saved):
            if original is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        if self._recorder is not None:
            self._recorder.sink.active = False
        self._recorder, self._saved = None, []


def _read_wrapper(recorder: _DeltaRecorder, original: Callable[..., Any], method: str) -> Callable[..., Any]:
    @functools.wraps(original)
    def read(self: Any, *args: Any, **kwargs: Any) -> Any:
        return recorder.read(original, self, method, args, kwargs)

    return read
