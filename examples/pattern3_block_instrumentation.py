"""Pattern 3 of the spec: block-level instrumentation with context managers.

    python examples/pattern3_block_instrumentation.py
"""

from __future__ import annotations

import monitoring_layer
from monitoring_layer import (
    count_operation,
    get_log_aggregator,
    get_metrics_collector,
    get_monitoring_integration,
    get_tracing_collector,
)

metrics = get_metrics_collector()
logs = get_log_aggregator()
traces = get_tracing_collector()
integration = get_monitoring_integration(metrics, logs, traces)


def process_record(record):
    return {**record, "amount_cents": round(record["amount"] * 100)}


def process_batch(records):
    with integration.create_timer("processor", "batch_processing"):
        with count_operation("processor", "records_processed", metrics):
            for record in records:
                process_record(record)


def main() -> None:
    for batch in range(5):
        process_batch([{"id": i, "amount": i * 1.5} for i in range(100)])
    monitoring_layer.flush()
    print("processed 5 batches of 100 records")
    print(f"files under {monitoring_layer.get_settings().home}")


if __name__ == "__main__":
    main()
