"""OTLP export beside the JSON files, received by an OTLP/HTTP endpoint on loopback.

No OpenTelemetry Collector build can be installed here, so the receiver is a
small HTTP server in the test that decodes the real protobuf payloads with
opentelemetry-proto (installed with the `otlp` extra).
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("opentelemetry.exporter.otlp.proto.http", reason="needs the otlp extra")

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: E402
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402

from monitoring_layer.config import resolve_settings  # noqa: E402
from monitoring_layer.pipeline import Pipeline  # noqa: E402

pytestmark = pytest.mark.integration

_MESSAGES = {"/v1/traces": ExportTraceServiceRequest, "/v1/metrics": ExportMetricsServiceRequest,
             "/v1/logs": ExportLogsServiceRequest}


@pytest.fixture
def receiver():
    received: dict[str, list] = {path: [] for path in _MESSAGES}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            message = _MESSAGES[self.path]()
            message.ParseFromString(body)
            received[self.path].append(message)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()
    server.server_close()


def test_otlp_is_added_beside_the_json_files(receiver, home):
    from opentelemetry._logs import LogRecord, SeverityNumber

    endpoint, received = receiver
    pipeline = Pipeline(resolve_settings(overrides={"otlp_endpoint": endpoint, "export_interval_s": 3600}))
    try:
        pipeline.tracer_provider.get_tracer("t").start_span("to-collector").end()
        pipeline.meter_provider.get_meter("t").create_counter("shipped").add(4)
        pipeline.logger_provider.get_logger("t").emit(LogRecord(body="shipped", severity_number=SeverityNumber.INFO))
        assert pipeline.flush()
    finally:
        pipeline.shutdown()
    spans = [s.name for r in received["/v1/traces"] for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert "to-collector" in spans
    metric_names = {m.name for r in received["/v1/metrics"] for rm in r.resource_metrics
                    for sm in rm.scope_metrics for m in sm.metrics}
    assert "shipped" in metric_names
    bodies = [lr.body.string_value for r in received["/v1/logs"] for rl in r.resource_logs
              for sl in rl.scope_logs for lr in sl.log_records]
    assert "shipped" in bodies
    # ...and never instead of the files
    assert json.loads((home / "traces" / "traces.json").read_text())["traces"][0]["name"] == "to-collector"


def test_no_otlp_exporter_without_an_endpoint(pipeline):
    assert pipeline.outputs == {
        "traces": ["JsonFileSpanExporter"],
        "metrics": ["JsonFileMetricExporter", "PrometheusMetricReader"],
        "logs": ["JsonFileLogExporter"],
    }


def test_otlp_outputs_listed(receiver):
    endpoint, _ = receiver
    pipeline = Pipeline(resolve_settings(overrides={"otlp_endpoint": endpoint}))
    try:
        assert pipeline.outputs["traces"] == ["JsonFileSpanExporter", "OTLPSpanExporter"]
        assert pipeline.outputs["logs"] == ["JsonFileLogExporter", "OTLPLogExporter"]
        assert "OTLPMetricExporter" in pipeline.outputs["metrics"]
    finally:
        pipeline.shutdown()


def test_missing_otlp_package_is_a_clear_config_error(monkeypatch):
    import sys

    from monitoring_layer import ConfigError

    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(ConfigError, match=r"OTLP export of traces.*pip install 'monitoring-layer\[otlp\]'"):
        Pipeline(resolve_settings(overrides={"otlp_endpoint": "http://127.0.0.1:4318"}))
