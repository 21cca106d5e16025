"""Quick start: record a few metrics, logs and traces, write the files, and show where they are.

    python examples/quickstart.py

Uses MONITORING_HOME (default /tmp/monitoring). Run `monitoring-layer check`
afterwards to validate and summarise the files.
"""

from __future__ import annotations

import random
import time

from opentelemetry._logs import LogRecord, SeverityNumber

import monitoring_layer
from monitoring_layer.cli import check_home


def main() -> None:
    pipeline = monitoring_layer.get_pipeline()
    tracer = pipeline.tracer_provider.get_tracer("quickstart")
    meter = pipeline.meter_provider.get_meter("quickstart")
    logger = pipeline.logger_provider.get_logger("quickstart")

    rows = meter.create_counter("rows_loaded", description="Rows loaded into the lakehouse")
    latency = meter.create_histogram("batch_duration", unit="ms", description="Batch processing time")

    for batch in range(5):
        with tracer.start_as_current_span("process_batch", attributes={"batch": batch}):
            started = time.perf_counter()
            with tracer.start_as_current_span("write_parquet"):
                time.sleep(random.uniform(0.001, 0.005))
            count = random.randint(100, 1000)
            rows.add(count, {"table": "orders"})
            latency.record((time.perf_counter() - started) * 1000, {"table": "orders"})
            logger.emit(LogRecord(body=f"batch {batch} loaded {count} rows",
                                  severity_number=SeverityNumber.INFO, attributes={"component": "etl"}))

    monitoring_layer.flush()
    report = check_home(monitoring_layer.get_settings().home)
    print(f"monitoring-layer {monitoring_layer.__version__}: wrote to {report['home']}")
    for entry in report["files"]:
        counts = ", ".join(f"{n} {what}" for what, n in entry.get("counts", {}).items())
        print(f"  {entry['path']}  [{entry['status']}] {counts}")


if __name__ == "__main__":
    main()
