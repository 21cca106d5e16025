"""Beside the spec's calls: gauge steps and histogram buckets chosen at registration."""

from __future__ import annotations

import threading

import pytest

from monitoring_layer.metrics import MetricsCollector
from monitoring_layer.pipeline import Pipeline


@pytest.fixture
def metrics(pipeline: Pipeline) -> MetricsCollector:
    return MetricsCollector(pipeline=pipeline)


def test_gauge_steps_add_up_exactly_across_threads(metrics: MetricsCollector) -> None:
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for _ in range(5_000):
            metrics.increment_gauge("jobs_in_flight", labels={"queue": "a"})
            metrics.increment_gauge("jobs_in_flight", 2, labels={"queue": "a"})
            metrics.decrement_gauge("jobs_in_flight", labels={"queue": "a"})

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert metrics.get_metric_statistics("jobs_in_flight", {"queue": "a"})["last"] == 8 * 5_000 * 2
    metrics.set_gauge("jobs_in_flight", 3, labels={"queue": "b"})
    metrics.decrement_gauge("jobs_in_flight", 5, labels={"queue": "b"})
    assert metrics.get_metric_statistics("jobs_in_flight", {"queue": "b"})["last"] == -2
    assert "jobs_in_flight{" in metrics.export_prometheus_format()


def test_gauge_steps_on_another_type_or_bad_values_are_contained(metrics: MetricsCollector, monkeypatch) -> None:
    from monitoring_layer import _selfmon, config

    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()
    metrics.increment_counter("done")
    metrics.increment_gauge("done")
    metrics.increment_gauge("level", float("nan"))
    metrics.increment_gauge("level", "x")  # type: ignore[arg-type]
    assert _selfmon.counts()["errors"]["metric_type"] == 1
    assert _selfmon.counts()["errors"]["metric_value"] == 2
    assert metrics.get_metric_statistics("done")["total"] == 1


def test_histogram_buckets_are_chosen_at_registration_in_the_registered_unit(metrics: MetricsCollector) -> None:
    metrics.register_metric("load_time", "histogram", unit="ms", buckets=[10, 100, 1000])
    metrics.observe_histogram("load_time", 50)
    text = metrics.export_prometheus_format()
    bounds = [line.split('le="')[1].split('"')[0] for line in text.splitlines()
              if line.startswith("load_time_seconds_bucket")]
    assert bounds == ["0.01", "0.1", "1.0", "+Inf"]
    metrics.register_metric("load_time", "histogram", unit="ms", buckets=[10, 100, 1000])  # same: fine
    with pytest.raises(ValueError, match="already registered with buckets"):
        metrics.register_metric("load_time", "histogram", unit="ms", buckets=[5, 50])


@pytest.mark.parametrize(("buckets", "error"), [
    ([3, 2], ValueError), ([], ValueError), ([1, float("inf")], ValueError), ("10,20", TypeError),
])
def test_bad_buckets_are_refused(metrics: MetricsCollector, buckets, error) -> None:
    with pytest.raises(error, match="buckets"):
        metrics.register_metric("bad", "histogram", buckets=buckets)


def test_buckets_are_for_histograms_only(metrics: MetricsCollector) -> None:
    with pytest.raises(ValueError, match="histograms only"):
        metrics.register_metric("c", "counter", buckets=[1, 2])


def test_a_name_that_spells_its_unit_reaches_otel_named_for_the_base_unit(pipeline: Pipeline) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics = MetricsCollector(provider)
    try:
        metrics.register_metric("kafka_processing_time_ms", "histogram", unit="ms")
        metrics.observe_histogram("kafka_processing_time_ms", 250)
        data = reader.get_metrics_data()
        found = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
        assert "kafka_processing_time_ms" not in found
        otel = found["kafka_processing_time"]
        assert otel.unit == "s" and otel.data.data_points[0].sum == 0.25
        assert metrics.prometheus_name("kafka_processing_time_ms") == "kafka_processing_time_seconds"
        assert metrics.get_metric_statistics("kafka_processing_time_ms")["max"] == 250  # the facade keeps ms
    finally:
        metrics.close()
        provider.shutdown()
