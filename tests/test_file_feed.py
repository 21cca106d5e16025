"""The pipeline's JSON span and log files are fed as each item ends, without OTel's batch queue."""

from __future__ import annotations

import json
import threading

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from monitoring_layer import _compat, _selfmon, testing
from monitoring_layer.exporters import JsonFileLogExporter, JsonFileSpanExporter, LogFileFeed, SpanFileFeed
from monitoring_layer.exporters import _store


def _doc(home, relative):
    return json.loads((home / relative).read_text())


def _drops(signal, reason):
    return _selfmon.counts()["dropped"].get((signal, reason), 0)


def test_the_files_are_fed_by_feeds_not_batch_processors(pipeline):
    spans = pipeline.tracer_provider._active_span_processor._span_processors  # the SDK's, read in a test
    logs = _compat.log_processors(pipeline.logger_provider)
    assert [type(p) for p in spans if isinstance(p, (SpanFileFeed, BatchSpanProcessor))] == [SpanFileFeed]
    assert [type(p) for p in logs if isinstance(p, (LogFileFeed, BatchLogRecordProcessor))] == [LogFileFeed]
    assert pipeline.outputs["traces"] == ["JsonFileSpanExporter"]
    assert pipeline.outputs["logs"] == ["JsonFileLogExporter"]


def test_a_burst_past_the_old_queue_reaches_the_files_or_is_counted(home):
    # 6,000 one-span traces and 6,000 records in a tight loop: a batch processor's queue (2,048)
    # dropped part of such a burst. Every item is now in the file or counted by the file's bound.
    total = 6_000
    with testing.isolated_pipeline(home, install=False, traces_max_traces=5_000, logs_max_records=1_000) as pipeline:
        tracer = pipeline.tracer_provider.get_tracer("burst")
        logger = pipeline.logger_provider.get_logger("burst")
        for i in range(total):
            tracer.start_span(f"s{i}").end()
            logger.emit(LogRecord(body=f"r{i}", severity_number=SeverityNumber.INFO))
        assert pipeline.flush()
        traces = _doc(home, "traces/traces.json")["traces"]
        records = _doc(home, "logs/logs.json")["records"]
    assert _drops("traces", "queue_full") == 0 and _drops("logs", "queue_full") == 0
    assert len(traces) == 5_000 and len(records) == 1_000
    assert _drops("traces", "retention_count") == total - 5_000
    assert _drops("spans", "retention_count") == total - 5_000  # one span per evicted trace
    assert _drops("logs", "retention_count") == total - 1_000
    assert {t["name"] for t in traces} == {f"s{i}" for i in range(total - 5_000, total)}  # the newest kept
    assert {r["message"] for r in records} == {f"r{i}" for i in range(total - 1_000, total)}


def test_spans_over_a_traces_cap_are_counted_as_they_arrive(home):
    with testing.isolated_pipeline(home, install=False, traces_max_spans_per_trace=3) as pipeline:
        tracer = pipeline.tracer_provider.get_tracer("cap")
        with tracer.start_as_current_span("root"):
            for i in range(5):
                tracer.start_span(f"child{i}").end()
        assert pipeline.flush()
        (trace,) = _doc(home, "traces/traces.json")["traces"]
    # The first three spans to end are kept (three children); the last two children and the root are not.
    assert [s["name"] for s in trace["spans"]] == ["child0", "child1", "child2"]
    assert trace["dropped_spans"] == 3
    assert _drops("spans", "max_spans_per_trace") == 3


def test_the_writer_thread_joins_no_application_trace(home, monkeypatch):
    # The writer thread starts when the first span ends, inside the application's trace (the
    # thread patches carry the current context into new threads): its file work must not join it.
    seen = {}
    written = threading.Event()
    update = _store.JsonFileStore.update

    def watching(self, *args, **kwargs):
        if threading.current_thread().name == "monitoring-layer-traces-writer":
            seen["span"] = otel_trace.get_current_span().get_span_context()
            seen["suppressed"] = otel_context.get_value(getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY"))
            written.set()
        return update(self, *args, **kwargs)

    monkeypatch.setattr(_store.JsonFileStore, "update", watching)
    with testing.isolated_pipeline(home, install=False, export_interval_s=0.05) as pipeline:
        from monitoring_layer.tracing import _threads

        _threads.install()
        tracer = pipeline.tracer_provider.get_tracer("app")
        with tracer.start_as_current_span("request"):
            with tracer.start_as_current_span("first"):
                pass  # ends inside "request": the writer thread starts here
        assert written.wait(30), "the traces writer never wrote"
    assert not seen["span"].is_valid
    assert seen["suppressed"] is True


def test_a_fault_in_a_feed_is_contained_and_counted(home, monkeypatch):
    monkeypatch.setenv("MONITORING_STRICT", "0")  # contained and counted, as in production
    testing.reset()

    def broken(self, item):
        raise RuntimeError("disk of the mind")

    monkeypatch.setattr(JsonFileSpanExporter, "add_span", broken)
    monkeypatch.setattr(JsonFileLogExporter, "add_record", broken)
    with testing.isolated_pipeline(home, install=False) as pipeline:
        tracer = pipeline.tracer_provider.get_tracer("app")
        tracer.start_span("survives").end()  # no exception reaches the application
        pipeline.logger_provider.get_logger("app").emit(LogRecord(body="survives too"))
    assert _selfmon.counts()["errors"]["export"] == 2


def test_items_after_shutdown_are_counted(home):
    with testing.isolated_pipeline(home, install=False) as pipeline:
        tracer = pipeline.tracer_provider.get_tracer("late")
        logger = pipeline.logger_provider.get_logger("late")
        traces, logs = pipeline.exporters["traces"], pipeline.exporters["logs"]
    traces.shutdown()  # already shut by the pipeline: nothing more is filed
    tracer.start_span("after").end()
    logs.add_record(type("Item", (), {"log_record": LogRecord(body="after")})())
    assert _drops("traces", "already_shutdown") >= 1
    assert _drops("logs", "already_shutdown") == 1


def test_a_span_filed_while_the_last_write_runs_is_counted_not_left_behind(tmp_path, monkeypatch):
    # Another thread ends a span while shutdown() writes for the last time: it is counted as
    # already_shutdown, not left in the inbox after the write's drain (where nothing writes it).
    from opentelemetry.sdk.trace import TracerProvider

    exporter = JsonFileSpanExporter(tmp_path)
    provider = TracerProvider()
    provider.add_span_processor(SpanFileFeed(exporter))
    tracer = provider.get_tracer("app")
    tracer.start_span("first").end()
    merge = exporter._merge

    def merge_while_a_span_ends(doc, pending):
        tracer.start_span("late").end()
        return merge(doc, pending)

    monkeypatch.setattr(exporter, "_merge", merge_while_a_span_ends)
    before = _drops("traces", "already_shutdown")
    exporter.shutdown()
    assert [t["name"] for t in _doc(tmp_path, "traces/traces.json")["traces"]] == ["first"]
    assert _drops("traces", "already_shutdown") == before + 1
    assert len(exporter._inbox) == 0


def test_the_providers_force_flush_writes_the_files(home):
    # An application that speaks OTel only flushes its providers (a batch job before it exits).
    with testing.isolated_pipeline(home, install=False, export_interval_s=3600) as pipeline:
        pipeline.tracer_provider.get_tracer("job").start_span("load").end()
        pipeline.logger_provider.get_logger("job").emit(LogRecord(body="loaded", severity_number=SeverityNumber.INFO))
        pipeline.meter_provider.get_meter("job").create_counter("rows_loaded").add(5)
        for name in ("traces/traces.json", "logs/logs.json", "metrics/metrics_registry.json"):
            assert not (home / name).exists()  # nothing written before the hour is up
        assert pipeline.tracer_provider.force_flush() and pipeline.logger_provider.force_flush()
        assert pipeline.meter_provider.force_flush()
        assert [t["name"] for t in _doc(home, "traces/traces.json")["traces"]] == ["load"]
        assert [r["message"] for r in _doc(home, "logs/logs.json")["records"]] == ["loaded"]
        (series,) = _doc(home, "metrics/metrics_registry.json")["metrics"]["rows_loaded"]["series"]
        assert [p["value"] for p in series["points"]] == [5.0]


def test_a_fault_in_a_providers_force_flush_write_is_contained(home, monkeypatch):
    monkeypatch.setenv("MONITORING_STRICT", "0")  # contained and counted, as in production
    testing.reset()

    def broken(self, timeout_millis=30_000):
        raise RuntimeError("disk of the mind")

    monkeypatch.setattr(JsonFileSpanExporter, "force_flush", broken)
    with testing.isolated_pipeline(home, install=False, export_interval_s=3600) as pipeline:
        pipeline.tracer_provider.get_tracer("job").start_span("load").end()
        assert pipeline.tracer_provider.force_flush() is False  # no exception reaches the caller
        assert _selfmon.counts()["errors"]["flush"] == 1
        assert pipeline.flush()  # the pipeline's own write is unaffected: nothing was lost
    assert [t["name"] for t in _doc(home, "traces/traces.json")["traces"]] == ["load"]


def test_a_feed_takes_only_its_own_exporter():
    with pytest.raises(TypeError, match="exporter must be a JsonFileSpanExporter"):
        SpanFileFeed(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="exporter must be a JsonFileLogExporter"):
        LogFileFeed(object())  # type: ignore[arg-type]


def test_a_flush_does_not_hang_on_a_buffer_lock_whose_holder_is_interrupted(home):
    # SIGTERM's handler runs in the main thread, possibly inside a feed's few locked dict operations,
    # and waits there for the flush it starts on another thread. That flush must skip the locked
    # file and write the others, not wait for a lock that is released only after it gives up.
    with testing.isolated_pipeline(home, install=False) as pipeline:
        pipeline.tracer_provider.get_tracer("app").start_span("kept for later").end()
        pipeline.logger_provider.get_logger("app").emit(LogRecord(body="written now"))
        traces = pipeline.exporters["traces"]
        result = {}
        assert traces._buffer_lock.acquire(timeout=5)  # held, as by the interrupted main thread
        try:
            flusher = threading.Thread(target=lambda: result.update(ok=pipeline.flush(30)))
            flusher.start()
            flusher.join(60)
            assert not flusher.is_alive(), "flush hung on the held buffer lock"
        finally:
            traces._buffer_lock.release()
        assert result["ok"] is False
        assert [r["message"] for r in _doc(home, "logs/logs.json")["records"]] == ["written now"]
        assert not (home / "traces" / "traces.json").exists()
        assert _selfmon.counts()["errors"]["export"] == 1
        assert pipeline.flush()  # nothing was lost: the span is written once the lock is free
        assert [t["name"] for t in _doc(home, "traces/traces.json")["traces"]] == ["kept for later"]


def test_spans_sampled_out_of_export_stay_out_of_the_file(home):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

    class RecordOnly(Sampler):  # recorded (processors see the span), not sampled for export
        def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None):
            return SamplingResult(Decision.RECORD_ONLY if name == "recorded only" else Decision.RECORD_AND_SAMPLE)

        def get_description(self):
            return "RecordOnly"

    provider = TracerProvider(sampler=RecordOnly())
    exporter = JsonFileSpanExporter(home, export_interval_s=3600)
    provider.add_span_processor(SpanFileFeed(exporter))
    tracer = provider.get_tracer("app")
    tracer.start_span("recorded only").end()
    tracer.start_span("exported").end()
    assert exporter.write_now()
    assert [t["name"] for t in _doc(home, "traces/traces.json")["traces"]] == ["exported"]
    provider.shutdown()
