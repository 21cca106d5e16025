"""`opentelemetry-instrument python app.py` picks up the distribution, end to end in a subprocess."""

import json
import os
import shutil
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


def _instrument(tmp_path: Path, home: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = shutil.which("opentelemetry-instrument") or str(Path(sys.executable).parent / "opentelemetry-instrument")
    if not Path(command).exists():
        pytest.fail("opentelemetry-instrument is missing: install the test extra (pip install -e '.[test]')")
    app = tmp_path / "app.py"
    app.write_text(APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONITORING_"))}
    env.update({"MONITORING_HOME": str(home), "MONITORING_STRICT": "1"}, **(extra_env or {}))
    proc = subprocess.run([command, sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=120)
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


def test_unknown_exporter_name_is_a_clear_error(tmp_path, home):
    # opentelemetry-instrument reports a failed configuration and still runs the app.
    proc = _instrument(tmp_path, home, {"OTEL_TRACES_EXPORTER": "carrier_pigeon"})
    assert ("ConfigError: OTEL_TRACES_EXPORTER='carrier_pigeon' names 'carrier_pigeon', but no installed "
            "package provides it") in proc.stderr
