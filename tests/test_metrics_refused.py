"""Values every reader would not agree on are refused at record time, the same way in each reader.

A negative histogram/summary value (the OTel SDK drops it) and a counter add that would make the
total non-finite are dropped by the facade: contained (raised under MONITORING_STRICT=1), counted in
``monitoring_layer_dropped_total`` and logged once. The statistics, the Prometheus exposition and an
in-memory OTel reader then all show the same thing.
"""

from __future__ import annotations

import logging
import math
import sys

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client.parser import text_string_to_metric_families

from monitoring_layer import _compat, _selfmon, config
from monitoring_layer.metrics import MetricsCollector


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Record-time faults contained, as in production (conftest makes them raise)."""
    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()


@pytest.fixture
def collector_and_reader():
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics = MetricsCollector(provider)
    yield metrics, reader
    provider.shutdown()


def _otel_points(reader: InMemoryMetricReader, name: str) -> list:
    data = reader.get_metrics_data()
    if data is None:
        return []
    return [p for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
            if m.name == name for p in m.data.data_points]


def _samples(text: str, family: str) -> dict[str, float]:
    return {s.name: s.value for f in text_string_to_metric_families(text) if f.name == family
            for s in f.samples if "le" not in s.labels and "quantile" not in s.labels}


@pytest.mark.parametrize("kind", ["histogram", "summary"])
@pytest.mark.parametrize("fast", [False, True], ids=["first_record", "cached_series"])
def test_negative_histogram_value_is_refused_and_every_reader_agrees(
        lenient, collector_and_reader, caplog, kind: str, fast: bool) -> None:
    metrics, reader = collector_and_reader
    observe = metrics.observe_histogram if kind == "histogram" else metrics.observe_summary
    if fast:
        observe("lat", 2.0, labels={"a": "b"})  # the series is cached: the next calls take the hot path
    with caplog.at_level(logging.WARNING):
        observe("lat", -5.0, labels={"a": "b"})
        observe("lat", -7, labels={"a": "b"})
    observe("lat", 3.0, labels={"a": "b"})
    want_count, want_sum = (2, 5.0) if fast else (1, 3.0)

    stats = metrics.get_metric_statistics("lat")
    assert (stats["total_count"], stats["total_sum"], stats["min"]) == (want_count, want_sum, 2.0 if fast else 3.0)
    exposition = _samples(metrics.export_prometheus_format(), "lat")
    assert (exposition["lat_count"], exposition["lat_sum"]) == (want_count, want_sum)
    (point,) = _otel_points(reader, "lat")
    assert (point.count, point.sum) == (want_count, want_sum)

    counts = _selfmon.counts()
    assert counts["dropped"][("metrics", "negative_value")] == 2
    assert counts["errors"]["metric_value"] == 2
    ours = [r for r in caplog.records if r.name == "monitoring_layer" and "negative value" in r.getMessage()]
    assert len(ours) == 1  # logged once per metric
    # The SDK never saw the value: it would have warned on its own logger.
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry")]


def test_negative_histogram_value_raises_under_strict(collector_and_reader) -> None:
    metrics, _reader = collector_and_reader
    metrics.observe_histogram("lat", 1.0)
    with pytest.raises(ValueError, match="negative value"):
        metrics.observe_histogram("lat", -1.0)
    assert metrics.get_metric_statistics("lat")["total_count"] == 1
    assert _selfmon.counts()["dropped"][("metrics", "negative_value")] == 1


def test_zero_and_negative_zero_are_kept(collector_and_reader) -> None:
    metrics, reader = collector_and_reader
    metrics.observe_histogram("lat", 0.0)
    metrics.observe_histogram("lat", -0.0)
    assert metrics.get_metric_statistics("lat")["total_count"] == 2
    (point,) = _otel_points(reader, "lat")
    assert point.count == 2


def test_bulk_hand_off_never_records_a_negative_value(caplog) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    histogram = provider.get_meter("t").create_histogram("bulk")
    try:
        with caplog.at_level(logging.WARNING):
            _compat.record_histogram_values(histogram, {"k": "v"}, [-1.0, 2.0, math.nan, 3.0, -4.0])
        (point,) = _otel_points(reader, "bulk")
        assert (point.count, point.sum, point.min) == (2, 5.0, 2.0)
    finally:
        provider.shutdown()
    assert _selfmon.counts()["dropped"][("metrics", "negative_value")] == 3
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry")]


@pytest.mark.parametrize("fast", [False, True], ids=["first_record", "cached_series"])
def test_counter_add_that_would_make_the_total_infinite_is_refused(
        lenient, collector_and_reader, caplog, fast: bool) -> None:
    metrics, reader = collector_and_reader
    if fast:
        metrics.increment_counter("big", 1.0)
    with caplog.at_level(logging.WARNING):
        metrics.increment_counter("big", 1e308)
        metrics.increment_counter("big", 1e308)  # 2e308 is inf: refused, the total stays 1e308
        metrics.increment_counter("big", 10**308)  # an int too
    metrics.increment_counter("big", 0)  # still accepted
    want = 1e308 + (1.0 if fast else 0.0)

    stats = metrics.get_metric_statistics("big")
    assert stats["total"] == want and math.isfinite(stats["sum"])
    assert stats["total_count"] == (3 if fast else 2)
    exposition = _samples(metrics.export_prometheus_format(), "big")
    assert exposition["big_total"] == want
    (point,) = _otel_points(reader, "big")
    assert point.value == want

    counts = _selfmon.counts()
    assert counts["dropped"][("metrics", "counter_overflow")] == 2
    assert counts["errors"]["metric_value"] == 2
    assert len([r for r in caplog.records if "past the largest float" in r.getMessage()]) == 1


@pytest.mark.parametrize("step, stat, reason", [("increment_counter", "total", "counter_overflow"),
                                               ("increment_gauge", "last", "gauge_overflow")])
def test_overflow_raises_under_strict(collector_and_reader, step: str, stat: str, reason: str) -> None:
    metrics, _reader = collector_and_reader
    getattr(metrics, step)("big", sys.float_info.max)
    with pytest.raises(ValueError, match="past the largest float"):
        getattr(metrics, step)("big", sys.float_info.max)
    assert metrics.get_metric_statistics("big")[stat] == sys.float_info.max
    assert _selfmon.counts()["dropped"][("metrics", reason)] == 1


def test_gauge_step_past_the_largest_float_is_refused(lenient, collector_and_reader, caplog) -> None:
    metrics, reader = collector_and_reader
    metrics.set_gauge("level", 1e308)
    with caplog.at_level(logging.WARNING):
        metrics.increment_gauge("level", 1e308)  # 2e308 is inf: refused, the gauge stays 1e308
        metrics.decrement_gauge("deficit", sys.float_info.max)
        metrics.decrement_gauge("deficit", sys.float_info.max)  # -inf: refused too
    metrics.decrement_gauge("level", 8e307)  # still accepted

    assert metrics.get_metric_statistics("level")["last"] == pytest.approx(2e307)
    assert metrics.get_metric_statistics("deficit")["last"] == -sys.float_info.max
    exposition = _samples(metrics.export_prometheus_format(), "level")
    assert exposition["level"] == pytest.approx(2e307)
    (point,) = _otel_points(reader, "deficit")
    assert point.value == -sys.float_info.max

    counts = _selfmon.counts()
    assert counts["dropped"][("metrics", "gauge_overflow")] == 2
    assert counts["errors"]["metric_value"] == 2
    assert len([r for r in caplog.records if "past the largest float" in r.getMessage()]) == 2  # once per gauge



def test_values_near_the_largest_float_keep_every_reader_working(collector_and_reader) -> None:
    """Each value is finite, their sum is not: the statistics say inf (the mean stays exact), nothing raises."""
    metrics, reader = collector_and_reader
    for _ in range(2):
        metrics.set_gauge("huge", 1e308)
        metrics.observe_histogram("huge_ms", 1e308)
    for name in ("huge", "huge_ms"):
        stats = metrics.get_metric_statistics(name)
        assert stats["sum"] == math.inf and stats["mean"] == 1e308 and stats["max"] == 1e308
    (point,) = _otel_points(reader, "huge_ms")
    assert point.count == 2 and point.max == 1e308
    text = metrics.export_prometheus_format()
    assert _samples(text, "huge_ms")["huge_ms_count"] == 2
    assert _selfmon.counts()["errors"].get("readings", 0) == 0
