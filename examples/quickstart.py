"""Quick start: record metrics, logs and traces with the facades, write the files, show where they are.

    python examples/quickstart.py

Uses MONITORING_HOME (default /tmp/monitoring). Run `monitoring-layer check`
afterwards to validate and summarise the files.
"""

from __future__ import annotations

import random
import time

import monitoring_layer
from monitoring_layer import get_log_aggregator, get_metrics_collector, get_tracing_collector
from monitoring_layer.cli import check_home


def main() -> None:
    metrics = get_metrics_collector()
    logs = get_log_aggregator()
    traces = get_tracing_collector()
    metrics.register_metric("rows_loaded", "counter", description="Rows loaded into the lakehouse")
    metrics.register_metric("batch_duration_ms", "histogram", description="Batch processing time", unit="ms")

    for batch in range(5):
        trace_id = traces.start_trace("etl", request_id=f"batch-{batch}")
        started = time.perf_counter()
        span = traces.start_span("write_parquet", component="lakehouse")
        time.sleep(random.uniform(0.001, 0.005))
        traces.end_span(span, "SUCCESS")
        count = random.randint(100, 1000)
        metrics.increment_counter("rows_loaded", count, labels={"table": "orders"})
        metrics.observe_histogram("batch_duration_ms", (time.perf_counter() - started) * 1000,
                                  labels={"table": "orders"})
        logs.info("etl", f"batch {batch} loaded {count} rows", table="orders")
        traces.end_trace(trace_id)

    stats = metrics.get_metric_statistics("batch_duration_ms")
    monitoring_layer.flush()
    report = check_home(monitoring_layer.get_settings().home)
    print(f"monitoring-layer {monitoring_layer.__version__}: wrote to {report['home']}")
    for entry in report["files"]:
        counts = ", ".join(f"{n} {what}" for what, n in entry.get("counts", {}).items())
        print(f"  {entry['path']}  [{entry['status']}] {counts}")
    print(f"batch_duration_ms: p50 {stats['p50']:.2f} ms, p95 {stats['p95']:.2f} ms over {stats['count']} batches")
    print("validate any time with: monitoring-layer check")


if __name__ == "__main__":
    main()
