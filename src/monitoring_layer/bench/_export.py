"""How fast the JSON exporters get records onto disk, and how that changes with the retention cap.

For each signal and cap, the file is first filled to the cap; then one round
hands the exporter a batch of new records (as the SDK would) and writes the
file (``write_now``: read, merge, apply retention, write atomically). The
figure is new records written per second, so a bigger cap shows the cost of
rewriting a bigger file.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from monitoring_layer.exporters import JsonFileLogExporter, JsonFileMetricExporter, JsonFileSpanExporter

__all__ = ["export_rows"]


class _Collect(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[Any] = []

    def export(self, spans):  # type: ignore[no-untyped-def]
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def _spans(n: int) -> list[Any]:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    sink = _Collect()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(sink))
    tracer = provider.get_tracer("bench")
    for i in range(n):
        tracer.start_span("op", attributes={"component": "bench", "i": i}).end()  # one span per trace
    provider.shutdown()
    return sink.spans


def _logs(n: int) -> list[Any]:
    from opentelemetry.sdk._logs.export import LogRecordExporter, SimpleLogRecordProcessor

    records: list[Any] = []

    class Sink(LogRecordExporter):
        def export(self, batch):  # type: ignore[no-untyped-def]
            records.extend(batch)

        def shutdown(self):  # type: ignore[no-untyped-def]
            pass

        def force_flush(self, timeout_millis=30_000):  # type: ignore[no-untyped-def]
            return True

    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(Sink()))
    logger = provider.get_logger("bench")
    for i in range(n):
        logger.emit(LogRecord(body=f"record {i}", severity_number=SeverityNumber.INFO,
                              attributes={"component": "bench"}))
    provider.shutdown()
    return records


def _metric_batches(n: int) -> list[Any]:
    """``n`` collections of one gauge series whose value changes every time (one point each)."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    gauge = provider.get_meter("bench").create_gauge("bench_value")
    batches = []
    for i in range(n):
        gauge.set(i, {"component": "bench"})
        batches.append(reader.get_metrics_data())
    provider.shutdown()
    return batches


def export_rows(caps: tuple[int, ...], batch: int, rounds: int) -> list[dict[str, Any]]:
    rows = []
    spans = _spans(max(caps) + batch * rounds)
    logs = _logs(max(caps) + batch * rounds)
    metric_batches = _metric_batches(max(caps) + batch * rounds)
    for cap in caps:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "home"
            rows.append(_one("spans", cap, batch, rounds, JsonFileSpanExporter(
                home, max_traces=cap, export_interval_s=3600), spans))
            rows.append(_one("logs", cap, batch, rounds, JsonFileLogExporter(
                home, max_records=cap, export_interval_s=3600), logs))
            rows.append(_one("metric points", cap, batch, rounds, JsonFileMetricExporter(
                home, max_points=cap, export_interval_s=3600), metric_batches, per_call=1))
    return rows


def _one(signal: str, cap: int, batch: int, rounds: int, exporter: Any, items: list[Any],
         per_call: int | None = None) -> dict[str, Any]:
    def feed(chunk: list[Any]) -> None:
        if per_call == 1:
            for data in chunk:
                exporter.export(data)
        else:
            exporter.export(chunk)

    feed(items[:cap])  # fill the file to its cap
    exporter.write_now()
    offset = cap
    best = float("inf")
    for _ in range(rounds):
        chunk = items[offset: offset + batch]
        offset += batch
        start = time.perf_counter()
        feed(chunk)
        exporter.write_now()
        best = min(best, time.perf_counter() - start)
    exporter.shutdown()
    size = next(exporter._store.path.parent.glob("*.json")).stat().st_size  # noqa: SLF001
    return {"signal": signal, "cap": cap, "batch": batch, "records_per_s": batch / best,
            "ms_per_write": best * 1000, "file_bytes": size}
