"""`opentelemetry-instrument python app.py` picks up the distribution, end to end in a subprocess."""

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

APP = textwrap.dedent("""
    import threading, urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from opentelemetry import trace
    import monitoring_layer

    class Hello(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"hi")
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/ping", timeout=10) as r:
        assert r.read() == b"hi"
    server.shutdown()

    pipeline = monitoring_layer.get_pipeline()
    assert trace.get_tracer_provider() is pipeline.tracer_provider, "facades and instrumentation share providers"
    print("outputs", pipeline.outputs["traces"])
    assert monitoring_layer.flush()
""")


PROBE_ENDPOINT = textwrap.dedent("""
    import urllib.request
    import monitoring_layer
    monitoring_layer.get_metrics_collector().increment_counter("app_requests")
    with urllib.request.urlopen("http://127.0.0.1:PORT/metrics", timeout=10) as response:
        if b"app_requests_total" in response.read():
            print("served app_requests_total")
""")


def _instrument(tmp_path: Path, home: Path, extra_env: dict[str, str] | None = None,
                app: str | None = None) -> subprocess.CompletedProcess:
    command = shutil.which("opentelemetry-instrument") or str(Path(sys.executable).parent / "opentelemetry-instrument")
    if not Path(command).exists():
        pytest.fail("opentelemetry-instrument is missing: install the test extra (pip install -e '.[test]')")
    script = tmp_path / "app.py"
    script.write_text(APP if app is None else app)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONITORING_"))}
    env.update({"MONITORING_HOME": str(home), "MONITORING_STRICT": "1"}, **(extra_env or {}))
    proc = subprocess.run([command, sys.executable, str(script)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_instrumented_app_writes_third_party_spans(tmp_path, home):
    proc = _instrument(tmp_path, home)
    assert "outputs ['JsonFileSpanExporter']" in proc.stdout
    traces = json.loads((home / "traces" / "traces.json").read_text())["traces"]
    client = [s for t in traces for s in t["spans"] if s["kind"] == "CLIENT"]
    assert client, traces
    assert client[0]["scope"] == "opentelemetry.instrumentation.urllib"
    assert any(str(v).endswith("/ping") for v in client[0]["attributes"].values())


def test_standard_exporter_variable_adds_beside_the_files(tmp_path, home):
    proc = _instrument(tmp_path, home, {"OTEL_TRACES_EXPORTER": "console,monitoring_json"})
    assert "outputs ['JsonFileSpanExporter', 'ConsoleSpanExporter']" in proc.stdout
    assert '"kind": "SpanKind.CLIENT"' in proc.stdout  # the console exporter printed the span
    assert json.loads((home / "traces" / "traces.json").read_text())["traces"]


def test_unknown_exporter_name_is_one_clear_line_and_the_app_runs(tmp_path, home):
    proc = _instrument(tmp_path, home, {"OTEL_TRACES_EXPORTER": "carrier_pigeon"})
    assert ("OTEL_TRACES_EXPORTER='carrier_pigeon' names 'carrier_pigeon', but no installed "
            "package provides it") in proc.stderr
    assert "Traceback" not in proc.stderr and "Configuration of monitoring_layer failed" not in proc.stderr
    assert json.loads((home / "traces" / "traces.json").read_text())["traces"]  # the files are written


def test_an_otlp_exporter_that_is_not_installed_is_one_line_naming_the_package(tmp_path, home):
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http", reason="the test extra has the http exporter")
    if importlib.util.find_spec("opentelemetry.exporter.otlp.proto.grpc") is not None:
        pytest.skip("the grpc OTLP exporter is installed here: nothing is missing")
    proc = _instrument(tmp_path, home, {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    lines = [line for line in proc.stderr.splitlines() if "otlp" in line]
    assert len(lines) == 1, proc.stderr
    assert "pip install opentelemetry-exporter-otlp-proto-grpc" in lines[0]
    assert "Traceback" not in proc.stderr
    assert json.loads((home / "traces" / "traces.json").read_text())["traces"]


def test_otel_metrics_exporter_prometheus_means_our_endpoint(tmp_path, home):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = PROBE_ENDPOINT.replace("PORT", str(port))
    proc = _instrument(tmp_path, home, {"OTEL_METRICS_EXPORTER": "prometheus",
                                        "OTEL_EXPORTER_PROMETHEUS_PORT": str(port)}, app=app)
    assert "Address already in use" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "served app_requests_total" in proc.stdout


def test_logging_auto_instrumentation_variable_bridges_stdlib_logging(tmp_path, home):
    app = textwrap.dedent("""
        import logging
        import monitoring_layer
        logging.getLogger("payments").warning("card declined for order %s", "A-1")
        assert monitoring_layer.flush()
    """)
    _instrument(tmp_path, home, {"OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true"}, app=app)
    records = json.loads((home / "logs" / "logs.json").read_text())["records"]
    assert [(r["component"], r["message"]) for r in records] == [("payments", "card declined for order A-1")]


BUSY_APP = textwrap.dedent("""
    import os
    from opentelemetry import trace
    import monitoring_layer
    from monitoring_layer import _selfmon
    from monitoring_layer.exporters import _encoder

    tracer = trace.get_tracer("busy.app")
    for i in range(_encoder.MIN_TRACES * 2):
        with tracer.start_as_current_span("job", attributes={"i": i}):
            with tracer.start_as_current_span("step"):
                pass
    encoder = monitoring_layer.get_pipeline().exporters["traces"]._encoder
    assert monitoring_layer.flush()
    pid = encoder.pid
    print("helper", pid, "batches", encoder.batches, "failures", encoder.failures,
          "export errors", _selfmon.counts()["errors"].get("export", 0))
    print("helper threads", len(os.listdir(f"/proc/{pid}/task")))
""")


def test_a_busy_write_under_opentelemetry_instrument_uses_an_uninstrumented_helper(tmp_path, home):
    # opentelemetry-instrument puts its sitecustomize on PYTHONPATH. The traces file's encoder
    # process starts with -I, so it must not run it: an instrumented helper would set up a
    # pipeline of its own (its writer and metric reader threads) and write into the same home.
    import time

    from monitoring_layer.exporters import _encoder

    proc = _instrument(tmp_path, home, app=BUSY_APP)
    words = proc.stdout.split()
    pid = int(words[words.index("helper") + 1])
    assert words[words.index("batches") + 1] != "0", proc.stdout  # the write went through the helper
    assert words[words.index("failures") + 1] == "0" and words[words.index("errors") + 1] == "0", proc.stdout
    assert "helper threads 1" in proc.stdout, proc.stdout
    traces = json.loads((home / "traces" / "traces.json").read_text())["traces"]
    assert len(traces) == _encoder.MIN_TRACES * 2 and {t["span_count"] for t in traces} == {2}
    assert {t["name"] for t in traces} == {"job"} and all(t["complete"] for t in traces)
    # The host has exited, so the helper's input closed: it exits too (reaped by init, or a zombie
    # if nothing reaps orphans here).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the encoder process {pid} outlived its host")
