"""Processors that hand each ended span and each emitted log record straight to our JSON exporters.

The SDK's batch processors exist to keep a slow export (a network call) off the
recording thread: they queue every item and hand batches to the exporter from a
thread of their own. Our file exporters never do slow work in ``export()``: they
only file a compact copy of each item into a bounded buffer, and their own writer
thread makes the JSON once per interval. Behind a batch processor that was a second
buffer: its queue held each SDK span (a dozen objects the garbage collector tracks)
until the batch thread woke, so under load thousands of them were promoted to the
collector's older generations, and every batch cost a thread hand-off. A feed files
the item in the recording thread instead (an append to the exporter's inbox, no
lock: ``monitoring_layer._inbox``): no thread waits for another, nothing is
dropped for a full queue, and the exporter's bounds and drop counts apply as before. docs/benchmarks.md (step 18) has the
measurements.

Network exporters (OTLP, or any exporter added with ``Pipeline.add_exporter``) keep
OTel's batch processors. A fault in a feed is contained and counted; it never
reaches the code that ended the span or emitted the record.

Layer: exporters (imports the exporters and ``_selfmon`` only).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from monitoring_layer import _selfmon

from .logs import JsonFileLogExporter
from .traces import JsonFileSpanExporter

__all__ = ["LogFileFeed", "SpanFileFeed", "files_written_after", "write_unless_deferred"]

# Set in a thread while ``Pipeline.flush`` flushes its providers and readers: it writes every file itself
# right after (each with its share of the deadline), so the feeds (and the metrics file's flush) leave the
# write to it.
_pipeline_flush = threading.local()


@contextlib.contextmanager
def files_written_after() -> Iterator[None]:
    """Around ``Pipeline.flush``'s providers' ``force_flush``: the feeds do not write there (it does, after)."""
    depth = getattr(_pipeline_flush, "depth", 0)
    _pipeline_flush.depth = depth + 1
    try:
        yield
    finally:
        _pipeline_flush.depth = depth


def write_unless_deferred(exporter: Any, timeout_millis: float) -> bool:
    """Write ``exporter``'s file now (an OTel provider's ``force_flush``); False if that failed.

    Inside ``files_written_after`` (``Pipeline.flush``, whose own loop writes each file once) it
    leaves the write to the pipeline and answers True. A fault is contained and counted
    (``errors{kind="flush"}``): it never reaches the code that flushed its provider.
    """
    if getattr(_pipeline_flush, "depth", 0):
        return True
    try:
        return bool(exporter.force_flush(timeout_millis))
    except Exception as exc:  # noqa: BLE001 - the caller flushed OTel, it must not get our fault
        _selfmon.fault("flush", exc, key=f"{getattr(exporter, 'signal', 'file')} force_flush")
        return False


class _Feed:
    """What both feeds share: their one exporter, its shutdown, and a flush with nothing to do."""

    exporter: Any

    def _attach(self, exporter: Any, kind: type) -> None:
        if not isinstance(exporter, kind):
            raise TypeError(f"exporter must be a {kind.__name__}, got {type(exporter).__name__}")
        self.exporter = exporter

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Write the file now: what OTel's ``force_flush`` promises, that every ended item is exported.

        Every item is in the exporter's buffer already, so nothing else waits. A caller of the
        provider's ``force_flush()`` (an OTel-only application, a batch job before it exits) thus
        finds the file written, as ``Pipeline.flush()`` writes it. False if the write failed or is
        backing off after a failure (the buffer is kept for the next attempt).
        """
        return write_unless_deferred(self.exporter, timeout_millis)


class SpanFileFeed(_Feed, SpanProcessor):
    """Files every ended span in ``exporter``'s buffer as it ends; ``shutdown`` writes the file."""

    def __init__(self, exporter: JsonFileSpanExporter) -> None:
        self._attach(exporter, JsonFileSpanExporter)
        self._add = exporter.add_span

    def on_end(self, span: ReadableSpan) -> None:
        try:
            # As OTel's batch processor does: a span the sampler kept for recording only is not exported.
            if span.context.trace_flags.sampled:
                self._add(span)
        except Exception as exc:  # noqa: BLE001 - the SDK calls processors without a guard
            _selfmon.fault("export", exc, key="traces feed")


class LogFileFeed(_Feed, LogRecordProcessor):
    """Files every emitted log record in ``exporter``'s buffer; ``shutdown`` writes the file."""

    def __init__(self, exporter: JsonFileLogExporter) -> None:
        self._attach(exporter, JsonFileLogExporter)
        self._add = exporter.add_record

    def on_emit(self, log_record: Any) -> None:
        try:
            self._add(log_record)
        except Exception as exc:  # noqa: BLE001 - the SDK calls processors without a guard
            _selfmon.fault("export", exc, key="logs feed")
