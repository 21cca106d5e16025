"""The auto-metrics of each data-platform layer (SPEC §7, "Auto-metrics Registered").

Names are the spec's, exactly. Types: counts of messages, jobs, tasks,
records and checks are counters; lag, memory, size and scores are gauges
(they go up and down); the ``_ms`` durations are histograms. Units are UCUM
as OTel wants them (``{message}`` is an annotated count: Prometheus shows no
unit suffix for it).
"""

from __future__ import annotations

__all__ = ["LAYERS"]

# layer -> {name: (type, description, unit)}
LAYERS: dict[str, dict[str, tuple[str, str, str]]] = {
    "kafka": {
        "kafka_messages_in": ("counter", "Messages ingested from Kafka.", "{message}"),
        "kafka_messages_out": ("counter", "Messages sent to Kafka.", "{message}"),
        "kafka_lag": ("gauge", "Consumer lag, in messages behind the latest offset.", "{message}"),
        "kafka_processing_time_ms": ("histogram", "Processing duration of Kafka messages or batches.", "ms"),
    },
    "spark": {
        "spark_jobs_completed": ("counter", "Completed Spark jobs.", "{job}"),
        "spark_tasks_completed": ("counter", "Completed Spark tasks.", "{task}"),
        "spark_memory_used_mb": ("gauge", "Memory used by Spark, in megabytes.", "MBy"),
        "spark_execution_time_ms": ("histogram", "Execution duration of Spark jobs.", "ms"),
    },
    "lakehouse": {
        "lakehouse_records_ingested": ("counter", "Records ingested into the lakehouse.", "{record}"),
        "lakehouse_records_processed": ("counter", "Records processed in the lakehouse.", "{record}"),
        "lakehouse_data_size_gb": ("gauge", "Data volume stored in the lakehouse, in gigabytes.", "GBy"),
        "lakehouse_quality_score": ("gauge", "Data quality score, 0 to 100.", "%"),
    },
    "governance": {
        "governance_policies_checked": ("counter", "Governance policy checks run.", "{check}"),
        "governance_violations_detected": ("counter", "Governance policy violations detected.", "{violation}"),
        "governance_compliance_score": ("gauge", "Compliance, 0 to 100 percent.", "%"),
    },
}
