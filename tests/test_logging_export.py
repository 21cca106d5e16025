"""The log aggregator's records in logs/logs.json, and what a full export queue drops."""

from __future__ import annotations

import gc
import json
import threading

import jsonschema
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import TracerProvider

from monitoring_layer import LogAggregator, _selfmon
from monitoring_layer.exporters import load_schema


def test_file_holds_valid_redacted_records(pipeline, home):
    logs = LogAggregator(pipeline.logger_provider, settings=pipeline.settings)
    # A record of another OTel logger on the provider: scrubbed before the file's processor sees it.
    pipeline.logger_provider.get_logger("some.library").emit(
        LogRecord(severity_number=SeverityNumber.INFO, body="session=zzz999", attributes={"Cookie": "cookie-value-xyz"}))
    logs.info("api", "Request received", trace_id="trace_123", api_key="k-123")
    try:
        raise TimeoutError("db did not answer")
    except TimeoutError as exc:
        logs.error("database", "Connection failed password=hunter2", exception=exc)
    tracer = pipeline.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("job"):
        logs.warning("spark", "slow stage", stage=3)
    assert pipeline.flush()

    text = (home / "logs" / "logs.json").read_text("utf-8")
    document = json.loads(text)
    jsonschema.validate(document, load_schema("logs"))
    for secret in ("hunter2", "k-123", "zzz999", "cookie-value-xyz"):
        assert secret not in text
    spark, database, api, library = document["records"]
    assert library["component"] == "some.library" and library["message"] == "session=[REDACTED]"
    assert (api["component"], api["level"], api["severity_text"]) == ("api", "INFO", "INFO")
    assert api["attributes"] == {"component": "api", "trace_id": "trace_123", "api_key": "[REDACTED]"}
    assert database["message"] == "Connection failed password=[REDACTED]"
    assert database["attributes"]["exception.type"] == "TimeoutError"
    assert database["attributes"]["exception.message"] == "db did not answer"
    assert spark["level"] == "WARNING" and spark["severity_text"] == "WARN"
    assert spark["trace_id"] is not None and spark["span_id"] is not None
    # The query answers hold the same records as the file.
    assert [r["message"] for r in logs.get_logs()] == [r["message"] for r in document["records"]]


def test_file_keeps_the_newest_thousand(pipeline, home):
    logs = LogAggregator(pipeline.logger_provider, settings=pipeline.settings)
    for i in range(1_100):
        logs.info("api", f"record {i}")
    assert pipeline.flush()
    records = json.loads((home / "logs" / "logs.json").read_text("utf-8"))["records"]
    assert len(records) == 1_000
    assert records[0]["message"] == "record 1099" and records[-1]["message"] == "record 100"
    assert logs.get_log_statistics()["total"] == 1_100


def _exporter_fed_by_a_logger(home, **options):
    from monitoring_layer.exporters.logs import JsonFileLogExporter
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    exporter = JsonFileLogExporter(home, export_interval_s=3600, **options)
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    return exporter, provider


def _capture(provider):
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    capture = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(capture))
    return capture


def test_records_waiting_for_the_write_are_nothing_the_collector_walks(home):
    exporter, provider = _exporter_fed_by_a_logger(home)
    logs = LogAggregator(provider)
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("job"):  # a current span: the SDK's record holds its context
        for i in range(50):
            logs.info("api", f"request {i}", rows=i, ratio=0.5, tags=["a", "b"])
    gc.collect()
    gc.collect()  # a list attribute is a tuple inside the record: untracked one collection after its holder
    waiting = list(exporter._pending)
    assert len(waiting) == 50
    assert not [r for r in waiting if gc.is_tracked(r)], "a waiting record keeps objects the collector walks"
    # ...and the file gets them whole.
    assert exporter.write_now()
    records = json.loads((home / "logs" / "logs.json").read_text("utf-8"))["records"]
    assert records[0]["message"] == "request 49" and records[0]["component"] == "api"
    assert records[0]["attributes"] == {"component": "api", "rows": 49, "ratio": 0.5, "tags": ["a", "b"]}
    assert records[0]["trace_id"] is not None and records[0]["service"]
    provider.shutdown()


def test_a_record_that_cannot_be_read_costs_only_itself(home, monkeypatch):
    from monitoring_layer import config

    monkeypatch.setenv("MONITORING_STRICT", "0")  # contained and counted, as in production
    config._reset_for_tests()
    exporter, provider = _exporter_fed_by_a_logger(home)
    provider.get_logger("lib").emit(LogRecord(body="before", severity_number=SeverityNumber.INFO))

    class Unreadable:
        @property
        def log_record(self):
            raise RuntimeError("broken record")

    capture = _capture(provider)
    provider.get_logger("lib").emit(LogRecord(body="after", severity_number=SeverityNumber.WARN))
    assert exporter.export([Unreadable(), capture.get_finished_logs()[-1]]).name == "SUCCESS"
    assert _selfmon.counts()["dropped"][("logs", "unencodable")] == 1
    assert exporter.write_now()
    records = json.loads((home / "logs" / "logs.json").read_text("utf-8"))["records"]
    assert sorted(r["message"] for r in records) == ["after", "after", "before"]
    provider.shutdown()


def test_a_batch_larger_than_the_file_keeps_only_its_newest(home):
    exporter, provider = _exporter_fed_by_a_logger(home, max_records=3)
    capture = _capture(provider)
    logs = LogAggregator(provider)
    for i in range(5):
        logs.info("api", f"r{i}")
    exporter._pending.clear()
    before = _selfmon.counts()["dropped"].get(("logs", "retention_count"), 0)
    exporter.export(capture.get_finished_logs())  # one batch of five into a file of three
    assert len(exporter._pending) == 3
    assert _selfmon.counts()["dropped"][("logs", "retention_count")] - before == 2
    assert exporter.write_now()
    records = json.loads((home / "logs" / "logs.json").read_text("utf-8"))["records"]
    assert [r["message"] for r in records] == ["r4", "r3", "r2"]
    provider.shutdown()


class _BlockingExporter(LogRecordExporter):
    """Blocks its first export until released, so the processor's queue fills up."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.exported = 0

    def export(self, batch):  # type: ignore[no-untyped-def]
        self.entered.set()
        self.release.wait(30)
        self.exported += len(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def test_full_queue_drops_are_counted_and_visible():
    provider = LoggerProvider()
    exporter = _BlockingExporter()
    provider.add_log_record_processor(
        BatchLogRecordProcessor(exporter, schedule_delay_millis=3_600_000, max_export_batch_size=8, max_queue_size=8))
    logs = LogAggregator(provider)
    assert logs.watched_processors == 1
    burst = 500
    for i in range(8):  # one full batch wakes the worker, which then blocks inside export()...
        logs.info("burst", f"record {i}")
    assert exporter.entered.wait(10)
    for i in range(8, burst):  # ...so the queue fills with no concurrent take: drops are exact
        logs.info("burst", f"record {i}")
    exporter.release.set()
    assert provider.force_flush()

    dropped = _selfmon.counts()["dropped"][("logs", "queue_full")]
    assert dropped > 0
    assert exporter.exported + dropped == burst  # nothing lost silently
    stats = logs.get_log_statistics()
    assert stats["dropped"]["queue_full"] == dropped
    assert stats["total"] == burst  # the store is fed synchronously: queries miss nothing
    provider.shutdown()


def test_records_encode_as_otlp():
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    provider = LoggerProvider()
    exporter = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logs = LogAggregator(provider)
    try:
        raise ValueError("bad row")
    except ValueError as exc:
        logs.error("etl", "failed", exception=exc, rows=[1, 2], meta={"a": 1.5, "b": [True]}, blob=b"\x00",
                   obj=object(), big=2**80)
    request = encode_logs(exporter.get_finished_logs())
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    assert record.severity_number == 17 and record.severity_text == "ERROR"
    assert record.body.string_value == "failed"
    keys = {kv.key for kv in record.attributes}
    assert {"component", "exception.type", "exception.message", "exception.stacktrace", "rows", "meta", "blob",
            "obj", "big"} <= keys


def test_two_writers_share_the_file(pipeline, home):
    from monitoring_layer.pipeline import Pipeline

    other = Pipeline(pipeline.settings)  # another process's pipeline on the same home
    try:
        LogAggregator(pipeline.logger_provider, settings=pipeline.settings).info("api", "from one")
        LogAggregator(other.logger_provider, settings=pipeline.settings).info("spark", "from two")
        assert pipeline.flush() and other.flush()
    finally:
        other.shutdown()
    records = json.loads((home / "logs" / "logs.json").read_text("utf-8"))["records"]
    assert sorted(r["message"] for r in records) == ["from one", "from two"]
