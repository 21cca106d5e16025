"""MonitoringIntegration (SPEC §7) on recording fakes."""

from __future__ import annotations

import asyncio

import pytest
from _recorders import Exploding, FakeLogs, FakeMetrics, FakeTraces

import monitoring_layer
from monitoring_layer import MonitoringIntegration, config, count_operation, get_monitoring_integration

SPEC_METRICS = {
    "kafka": ["kafka_messages_in", "kafka_messages_out", "kafka_lag", "kafka_processing_time_ms"],
    "spark": ["spark_jobs_completed", "spark_tasks_completed", "spark_memory_used_mb", "spark_execution_time_ms"],
    "lakehouse": ["lakehouse_records_ingested", "lakehouse_records_processed", "lakehouse_data_size_gb",
                  "lakehouse_quality_score"],
    "governance": ["governance_policies_checked", "governance_violations_detected", "governance_compliance_score"],
}


@pytest.fixture
def fakes():
    return FakeMetrics(), FakeLogs(), FakeTraces()


@pytest.fixture
def integration(fakes):
    return get_monitoring_integration(*fakes)


def test_register_component_lists_type_and_last_activity(integration):
    entry = integration.register_component("kafka_ingestion", "streaming")
    integration.register_component("spark_processing", "computing")
    assert entry["name"] == "kafka_ingestion" and entry["type"] == "streaming"
    assert entry["last_activity"] is None and entry["registered_at"].endswith("Z")
    listed = integration.get_registered_components()
    assert [(c["name"], c["type"]) for c in listed] == [("kafka_ingestion", "streaming"),
                                                        ("spark_processing", "computing")]

    @integration.monitored_function(component="kafka_ingestion", operation="publish")
    def publish():
        return True

    publish()
    assert integration.get_component("kafka_ingestion")["last_activity"] is not None
    assert integration.get_component("spark_processing")["last_activity"] is None
    with integration.create_timer("spark_processing", "job"):
        pass
    assert integration.get_component("spark_processing")["last_activity"] is not None
    with pytest.raises(ValueError, match="component_type"):
        integration.register_component("x", " ")
    with pytest.raises(TypeError, match="name"):
        integration.register_component(None, "streaming")


@pytest.mark.parametrize("layer", sorted(SPEC_METRICS))
def test_integrate_layer_registers_exactly_the_spec_metrics_once(fakes, integration, layer):
    metrics = fakes[0]
    integrate = getattr(integration, f"integrate_{layer}_metrics")
    result = integrate()
    assert list(result) == SPEC_METRICS[layer]
    assert metrics.registrations == SPEC_METRICS[layer]
    for name, info in result.items():
        assert metrics.registered[name] == (info["type"], info["description"], info["unit"])
        if name.endswith("_ms"):
            assert info["type"] == "histogram" and info["unit"] == "ms"
        elif any(w in name for w in ("lag", "memory", "size", "score")):
            assert info["type"] == "gauge"
        else:
            assert info["type"] == "counter"
    assert integrate() == result  # a second call is a no-op
    assert metrics.registrations == SPEC_METRICS[layer]


def test_layer_metrics_are_usable_after_integration(fakes, integration):
    metrics = fakes[0]
    integration.integrate_kafka_metrics()
    metrics.increment_counter("kafka_messages_in", 5, {"topic": "t"})
    metrics.set_gauge("kafka_lag", 12)
    metrics.observe_histogram("kafka_processing_time_ms", 3.5)
    assert metrics.total("kafka_messages_in") == 5


def test_monitored_function_counts_times_logs_and_traces(fakes, integration):
    metrics, logs, traces = fakes

    @integration.monitored_function(component="spark", operation="process")
    def process_batch(records):
        """Process."""
        if records is None:
            raise ValueError("no records")
        return len(records)

    assert process_batch.__name__ == "process_batch" and process_batch.__doc__ == "Process."
    assert process_batch([1, 2, 3]) == 3
    with pytest.raises(ValueError, match="no records"):
        process_batch(None)

    labels = {"component": "spark", "operation": "process"}
    assert metrics.total("operations_total", status="success", **labels) == 1
    assert metrics.total("operations_total", status="error", **labels) == 1
    assert metrics.total("operation_errors_total", error_type="ValueError", **labels) == 1
    assert len(metrics.values("operation_duration_ms", **labels)) == 2
    assert logs.messages()[0] == "[SPARK] process - started"
    assert logs.messages()[1].startswith("[SPARK] process - success (")
    assert logs.records[3]["level"] == "ERROR" and isinstance(logs.records[3]["exception"], ValueError)
    assert [(s["name"], s["component"], s["status"]) for s in traces.spans.values()] == [
        ("process", "spark", "SUCCESS"), ("process", "spark", "ERROR")]


def test_monitored_function_on_async_functions(fakes, integration):
    metrics, _, traces = fakes

    @integration.monitored_function(component="api", operation="fetch")
    async def fetch():
        await asyncio.sleep(0)
        return "x"

    assert asyncio.run(fetch()) == "x"
    assert metrics.total("operations_total", status="success") == 1
    assert [s["status"] for s in traces.spans.values()] == ["SUCCESS"]


def test_create_timer_records_duration_and_error_outcome(fakes, integration):
    metrics = fakes[0]
    with integration.create_timer("spark", "job_execution"):
        pass
    with pytest.raises(MemoryError):
        with integration.create_timer("spark", "job_execution"):
            raise MemoryError("executor lost")
    assert len(metrics.values("operation_duration_ms", component="spark", operation="job_execution",
                              status="success")) == 1
    assert len(metrics.values("operation_duration_ms", status="error")) == 1
    assert metrics.total("operation_errors_total", error_type="MemoryError") == 1


def test_pattern_3_block_level(fakes, integration):
    metrics = fakes[0]
    seen = []

    def process_batch(records):
        with integration.create_timer("processor", "batch_processing"):
            with count_operation("processor", "records_processed", metrics):
                for record in records:
                    seen.append(record)

    process_batch([1, 2])
    assert seen == [1, 2]
    assert metrics.total("operations_total", operation="records_processed", status="success") == 1
    assert len(metrics.values("operation_duration_ms", operation="batch_processing")) == 1


def test_get_monitoring_integration_returns_the_same_instance_for_the_same_collectors(fakes):
    first = get_monitoring_integration(*fakes)
    first.register_component("kafka", "streaming")
    again = get_monitoring_integration(*fakes)
    assert again is first and again.get_component("kafka")["type"] == "streaming"
    assert get_monitoring_integration(FakeMetrics(), *fakes[1:]) is not first


def test_default_collectors_are_the_process_wide_ones(monkeypatch, fakes):
    metrics, logs, traces = fakes
    integration = MonitoringIntegration()  # nothing looked up yet

    @integration.monitored_function(component="kafka", operation="publish")
    def publish(topic, message):
        return (topic, message)

    monkeypatch.setattr(monitoring_layer.metrics, "get_metrics_collector", lambda: metrics, raising=False)
    monkeypatch.setattr(monitoring_layer.logging, "get_log_aggregator", lambda: logs, raising=False)
    monkeypatch.setattr(monitoring_layer.tracing, "get_tracing_collector", lambda: traces, raising=False)
    assert publish("t", "m") == ("t", "m")
    assert integration.integrate_kafka_metrics()
    assert metrics.total("operations_total") == 1 and "kafka_lag" in metrics.registered
    assert len(logs.records) == 2 and len(traces.spans) == 1


def test_bad_collectors_are_refused_at_setup():
    with pytest.raises(TypeError, match="metrics"):
        MonitoringIntegration(metrics=object())
    with pytest.raises(ValueError, match="operation"):
        MonitoringIntegration(FakeMetrics()).monitored_function("spark", "")


def test_broken_collectors_never_change_the_function(monkeypatch):
    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()
    broken = Exploding()
    integration = MonitoringIntegration(broken, broken, broken)

    @integration.monitored_function(component="spark", operation="process")
    def process(x):
        if x is None:
            raise LookupError("mine")
        return x

    assert process(7) == 7
    with pytest.raises(LookupError, match="mine"):
        process(None)
    with integration.create_timer("spark", "t"):
        pass


def test_broken_collectors_raise_under_strict_mode():
    integration = MonitoringIntegration(Exploding(), FakeLogs(), FakeTraces())

    @integration.monitored_function(component="spark", operation="process")
    def process():
        return 1

    with pytest.raises(RuntimeError, match="collector broke"):
        process()
