"""Pattern 1 of the spec: complete platform integration.

    python examples/pattern1_platform_integration.py

Registers the Kafka and Spark layers, their standard metrics, and publishes a
few messages through a monitored function: each call is traced, logged and
metered. The files land under MONITORING_HOME (default /tmp/monitoring).
"""

from __future__ import annotations

import monitoring_layer
from monitoring_layer import (
    get_log_aggregator,
    get_metrics_collector,
    get_monitoring_integration,
    get_tracing_collector,
)


class InMemoryProducer:
    """Stands in for a Kafka producer: keeps what it was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def send(self, topic: str, message: bytes) -> None:
        self.sent.append((topic, message))


producer = InMemoryProducer()

# Initialize all components
metrics = get_metrics_collector()
logs = get_log_aggregator()
traces = get_tracing_collector()
integration = get_monitoring_integration(metrics, logs, traces)

# Register platform components
integration.register_component("kafka", "streaming")
integration.register_component("spark", "processing")
integration.integrate_kafka_metrics()
integration.integrate_spark_metrics()


# Automatically instrument Kafka producer
@integration.monitored_function(component="kafka", operation="publish")
def publish_message(topic, message):
    # Automatically traced, logged, and metered
    producer.send(topic, message)


def main() -> None:
    trace_id = traces.start_trace("ingestion-service", request_id="batch-1")
    for n in range(10):
        publish_message("orders", f"order {n}".encode())
    traces.end_trace(trace_id)
    metrics.set_gauge("kafka_lag", 3, labels={"topic": "orders"})
    monitoring_layer.flush()
    print(f"published {len(producer.sent)} messages in trace {trace_id}")
    print(f"files under {monitoring_layer.get_settings().home}")


if __name__ == "__main__":
    main()
