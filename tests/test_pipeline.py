"""The process-wide pipeline: OTel's own configuration, adopting providers, scrape endpoint, OTLP, exit."""

import json
import urllib.request

import pytest

from monitoring_layer.config import resolve_settings
from monitoring_layer.pipeline import Pipeline

pytestmark = pytest.mark.integration


def _doc(home, relative):
    return json.loads((home / relative).read_text())


def test_entry_points_load_through_otel_configuration(run_python, home):
    run_python("""
        from opentelemetry.sdk._configuration import _OTelSDKConfigurator
        from opentelemetry import trace, metrics
        from opentelemetry import _logs
        from opentelemetry._logs import LogRecord, SeverityNumber

        _OTelSDKConfigurator().configure()
        trace.get_tracer("app").start_span("configured-by-otel").end()
        metrics.get_meter("app").create_counter("otel_configured").add(2)
        _logs.get_logger("app").emit(LogRecord(body="via entry point", severity_number=SeverityNumber.INFO))
        trace.get_tracer_provider().shutdown()
        metrics.get_meter_provider().shutdown()
        _logs.get_logger_provider().shutdown()
    """, env={"OTEL_TRACES_EXPORTER": "monitoring_json", "OTEL_METRICS_EXPORTER": "monitoring_json",
              "OTEL_LOGS_EXPORTER": "monitoring_json"})
    assert _doc(home, "traces/traces.json")["traces"][0]["name"] == "configured-by-otel"
    assert _doc(home, "metrics/metrics_registry.json")["metrics"]["otel_configured"]["series"][0]["points"][-1]["value"] == 2
    assert _doc(home, "logs/logs.json")["records"][0]["message"] == "via entry point"


def test_existing_global_providers_are_adopted_not_replaced(run_python, home):
    proc = run_python("""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import monitoring_layer
        from monitoring_layer.pipeline import get_pipeline

        mine = TracerProvider()
        theirs = InMemorySpanExporter()
        mine.add_span_processor(SimpleSpanProcessor(theirs))
        trace.set_tracer_provider(mine)

        pipeline = get_pipeline()
        assert pipeline.tracer_provider is mine
        assert trace.get_tracer_provider() is mine
        trace.get_tracer("host").start_span("seen-by-both").end()
        monitoring_layer.flush()
        print([s.name for s in theirs.get_finished_spans()])
    """)
    assert proc.stdout.strip() == "['seen-by-both']"
    assert _doc(home, "traces/traces.json")["traces"][0]["name"] == "seen-by-both"


def test_flush_runs_at_interpreter_exit(run_python, home):
    run_python("""
        from monitoring_layer.pipeline import get_pipeline
        get_pipeline().tracer_provider.get_tracer("t").start_span("written-at-exit").end()
    """, env={"MONITORING_EXPORT_INTERVAL": "3600"})
    assert _doc(home, "traces/traces.json")["traces"][0]["name"] == "written-at-exit"


def test_prometheus_endpoint_serves_metrics(home):
    pipeline = Pipeline(resolve_settings(overrides={"prometheus_port": 0, "export_interval_s": 3600}))
    try:
        host, port = pipeline.prometheus_address
        assert host == "127.0.0.1" and port > 0
        pipeline.meter_provider.get_meter("t").create_counter("scraped_things").add(5, {"kind": "a"})
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as response:
            body = response.read().decode()
        assert 'scraped_things_total{kind="a"' in body
        assert "# TYPE scraped_things_total counter" in body
    finally:
        pipeline.shutdown()


def test_busy_prometheus_port_is_contained(home, monkeypatch):
    import socket

    from monitoring_layer import _selfmon, config

    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        pipeline = Pipeline(resolve_settings(overrides={"prometheus_port": port}))
        try:
            assert pipeline.prometheus_address is None
            assert _selfmon.counts()["errors"]["prometheus_server"] == 1
        finally:
            pipeline.shutdown()


def test_self_metrics_reach_prometheus(pipeline):
    from prometheus_client import generate_latest

    from monitoring_layer import _selfmon

    _selfmon.dropped("logs", "queue_full", 3)
    _selfmon.fault("export", "disk full", strict=False)
    text = generate_latest(pipeline.prometheus_registry).decode()
    assert 'monitoring_layer_dropped_total{otel_scope_name="monitoring_layer"' in text
    assert 'reason="queue_full"' in text and 'kind="export"' in text
    assert "# TYPE monitoring_layer_errors_total counter" in text


def test_span_queue_drops_are_counted(pipeline):
    import threading

    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from monitoring_layer import _selfmon

    class Blocking(SpanExporter):
        def __init__(self):
            self.entered, self.release, self.exported = threading.Event(), threading.Event(), 0

        def export(self, spans):
            self.entered.set()
            self.release.wait(30)
            self.exported += len(spans)
            return SpanExportResult.SUCCESS

    blocking = Blocking()
    pipeline.add_exporter("traces", blocking)
    assert pipeline.outputs["traces"] == ["JsonFileSpanExporter", "Blocking"]
    tracer = pipeline.tracer_provider.get_tracer("burst")
    for _ in range(512):  # one full batch wakes the worker, which blocks in export()
        tracer.start_span("s").end()
    assert blocking.entered.wait(10)
    total = 512 + 5_000
    for _ in range(5_000):  # the queue (2,048) fills while the worker is blocked
        tracer.start_span("s").end()
    blocking.release.set()
    assert pipeline.flush()
    dropped = _selfmon.counts()["dropped"][("traces", "queue_full")]
    in_file = len(json.loads((pipeline.settings.home / "traces" / "traces.json").read_text())["traces"])
    assert total - blocking.exported > 0
    # every span either reached each exporter or is counted as dropped by that exporter's processor
    assert dropped == (total - blocking.exported) + (total - in_file)


def test_fault_reports_stay_bounded(monkeypatch, caplog):
    from monitoring_layer import _selfmon

    monkeypatch.setattr(_selfmon, "MAX_REPORTED", 5)
    with caplog.at_level("WARNING", logger="monitoring_layer"):
        for n in range(50):  # e.g. a generated metric name per call, each one bad
            _selfmon.fault("metric_value", "bad value", key=f"metric_{n}", strict=False)
    assert _selfmon.counts()["errors"]["metric_value"] == 50
    assert len(_selfmon._reported) == 5
    assert caplog.text.count("contained a fault of kind metric_value") == 5
    assert "new ones are only counted" in caplog.text


def test_the_first_fault_of_each_kind_is_logged_past_the_cap(monkeypatch, caplog):
    from monitoring_layer import _selfmon

    monkeypatch.setattr(_selfmon, "MAX_REPORTED", 5)
    with caplog.at_level("WARNING", logger="monitoring_layer"):
        for n in range(20):
            _selfmon.fault("metric_value", "bad value", key=f"metric_{n}", strict=False)
        _selfmon.fault("export", "disk full", key="logs file", strict=False)
        _selfmon.fault("export", "disk full", key="traces file", strict=False)  # same kind: only counted
        _selfmon.fault("serve", "port busy", key="9464", strict=False)
    assert caplog.text.count("contained a fault of kind export") == 1
    assert caplog.text.count("contained a fault of kind serve") == 1
    assert _selfmon.counts()["errors"]["export"] == 2
