"""An app run under `opentelemetry-instrument`: third-party instrumentation and the facades together.

    pip install 'monitoring-layer[instrument]' opentelemetry-instrumentation-urllib
    opentelemetry-instrument python examples/otel_instrument_app.py

The distribution's configurator builds the pipeline before this script runs;
the urllib instrumentation's client spans nest under the facade's trace, and
everything lands in MONITORING_HOME's files.
"""

from __future__ import annotations

import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import monitoring_layer
from monitoring_layer import get_log_aggregator, get_metrics_collector, get_tracing_collector


class Inventory(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = b'{"sku": "A-1", "stock": 12}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Inventory)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    metrics, logs, traces = get_metrics_collector(), get_log_aggregator(), get_tracing_collector()

    trace_id = traces.start_trace("inventory-sync", request_id="sync-1")
    span = traces.start_span("fetch_stock", component="inventory")
    for _ in range(3):  # each request is a client span of the urllib instrumentation, inside ours
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/stock/A-1", timeout=10) as response:
            response.read()
        metrics.increment_counter("inventory_requests", labels={"endpoint": "stock"})
    logs.info("inventory", "stock fetched", requests=3)
    traces.end_span(span)
    traces.end_trace(trace_id)
    server.shutdown()

    monitoring_layer.flush()
    print(f"trace {trace_id} written under {monitoring_layer.get_settings().home}")


if __name__ == "__main__":
    main()
