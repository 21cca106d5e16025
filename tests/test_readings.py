"""Readings produced by the pipeline: at every collection and synchronously inside flush()."""

from __future__ import annotations

import os

import pytest

from monitoring_layer import config
from monitoring_layer.metrics import MetricsCollector
from monitoring_layer.pipeline import Pipeline
from monitoring_layer.readings import MetricReading, reading_statistic


def _find(readings: tuple[MetricReading, ...], name: str, **labels: str) -> MetricReading:
    found = [r for r in readings if r.name == name and all(r.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, f"{name} {labels}: {found!r} among {sorted({r.name for r in readings})}"
    return found[0]


def test_every_pipeline_has_a_hub_even_disabled() -> None:
    settings = config.resolve_settings(overrides={"sdk_disabled": True})
    disabled = Pipeline(settings)
    try:
        assert disabled.readings.latest() == ()
        assert disabled.flush()
        assert disabled.readings.collections == 0
    finally:
        disabled.shutdown()


def test_facade_counter_reads_cumulative_totals(pipeline: Pipeline) -> None:
    metrics = MetricsCollector(pipeline=pipeline)
    for _ in range(3):
        metrics.increment_counter("app_requests", labels={"method": "GET"})
    pipeline.flush()
    first = _find(pipeline.readings.latest(), "app_requests", method="GET")
    assert (first.type, first.value, first.count, first.prometheus_name) == ("counter", 3.0, 3, "app_requests_total")
    assert first.source == f"unknown_service/{os.getpid()}" or first.source.endswith(f"/{os.getpid()}")
    metrics.increment_counter("app_requests", 2, labels={"method": "GET"})
    pipeline.flush()
    assert _find(pipeline.readings.latest(), "app_requests", method="GET").value == 5.0  # cumulative, not +2


def test_facade_histogram_reads_in_its_registered_unit(pipeline: Pipeline) -> None:
    metrics = MetricsCollector(pipeline=pipeline)
    metrics.register_metric("request_latency", "histogram", "Request latency", "ms")
    for value in range(1, 101):  # 1..100 ms
        metrics.observe_histogram("request_latency", float(value))
    pipeline.flush()
    reading = _find(pipeline.readings.latest(), "request_latency")
    assert reading.unit == "ms" and reading.prometheus_name == "request_latency_seconds"
    assert reading.count == 100 and reading.sum == 5050.0
    assert reading_statistic(reading, "p95") == pytest.approx(95.05)  # ms, exact (linear interpolation)
    assert reading_statistic(reading, "max") == 100.0
    assert reading.value == 100.0  # the most recent observation
    # The facade's histogram is not reported twice (its OTel points in seconds are skipped).
    assert [r.name for r in pipeline.readings.latest()].count("request_latency") == 1


def test_otel_api_counter_and_histogram_read_cumulative(pipeline: Pipeline) -> None:
    meter = pipeline.meter_provider.get_meter("third.party")
    counter = meter.create_counter("jobs_done", unit="1", description="Jobs")
    histogram = meter.create_histogram("job_seconds", unit="s")
    counter.add(2, {"queue": "a"})
    histogram.record(0.5)
    pipeline.flush()
    counter.add(2, {"queue": "a"})
    histogram.record(1.5)
    pipeline.flush()
    readings = pipeline.readings.latest()
    jobs = _find(readings, "jobs_done", queue="a")
    assert (jobs.type, jobs.value, jobs.unit) == ("counter", 4.0, "1")
    seconds = _find(readings, "job_seconds")
    assert (seconds.type, seconds.count, seconds.sum, seconds.value) == ("histogram", 2, 2.0, 1.0)
    assert seconds.buckets is not None and seconds.buckets[-1] == (float("inf"), 2)
    assert reading_statistic(seconds, "p50") is not None
    assert seconds.prometheus_name == "job_seconds"


def test_self_metrics_are_readings(pipeline: Pipeline) -> None:
    from monitoring_layer import _selfmon

    _selfmon.dropped("metrics", "retention_count", 4)
    pipeline.flush()
    dropped = _find(pipeline.readings.latest(), "monitoring_layer_dropped", signal="metrics", reason="retention_count")
    assert dropped.type == "counter" and dropped.value == 4.0
    assert dropped.prometheus_name == "monitoring_layer_dropped_total"


def test_subscriber_is_called_inside_flush(pipeline: Pipeline) -> None:
    metrics = MetricsCollector(pipeline=pipeline)
    metrics.set_gauge("queue_depth", 7, labels={"queue": "q"})
    seen: list[float] = []
    unsubscribe = pipeline.readings.subscribe(
        lambda readings: seen.extend(r.value for r in readings if r.name == "queue_depth"))
    pipeline.flush()
    assert seen == [7.0]  # synchronously: before flush() returned
    unsubscribe()
    pipeline.flush()
    assert seen == [7.0]



def test_flush_and_shutdown_run_the_lifecycle_hooks(process_wide: Pipeline) -> None:
    import monitoring_layer
    from monitoring_layer import _lifecycle

    calls: list[str] = []
    seen_at_flush: list[int] = []
    unregister = _lifecycle.register(
        "test component", flush=lambda: (calls.append("flush"), seen_at_flush.append(process_wide.readings.collections)),
        shutdown=lambda: calls.append("shutdown"))
    try:
        monitoring_layer.flush()
        assert calls == ["flush"] and seen_at_flush == [1]  # after the flush's readings were published
        monitoring_layer.shutdown()
        assert calls == ["flush", "shutdown"] and process_wide.stopped
    finally:
        unregister()


@pytest.mark.integration
def test_a_forked_child_publishes_even_if_the_hub_lock_was_held(pipeline: Pipeline) -> None:
    hub = pipeline.readings
    hub._lock.acquire()  # as if another thread held it at fork time
    try:
        pid = os.fork()
        if pid == 0:  # child
            try:
                hub.publish([MetricReading("c", "counter", 1.0)])
                os._exit(0 if hub.latest()[0].value == 1.0 else 1)
            finally:
                os._exit(2)
    finally:
        hub._lock.release()
    _pid, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
