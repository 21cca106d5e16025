"""Public calls given hostile arguments raise only the documented errors, naming the argument."""

from __future__ import annotations

import pytest

from monitoring_layer import extract, retry_with_tracking


def test_statistics_labels_must_be_a_mapping(process_wide) -> None:
    from monitoring_layer import get_metrics_collector

    metrics = get_metrics_collector()
    metrics.increment_counter("jobs")
    with pytest.raises(TypeError, match="labels"):
        metrics.get_metric_statistics("jobs", labels="x")  # type: ignore[arg-type]


@pytest.mark.parametrize("since", [float("inf"), float("nan"), 10**400])
def test_get_logs_since_must_be_finite(process_wide, since: float) -> None:
    from monitoring_layer import get_log_aggregator

    with pytest.raises(ValueError, match="since"):
        get_log_aggregator().get_logs(since=since)


def test_slow_traces_threshold_errors_name_the_argument(process_wide) -> None:
    from monitoring_layer import get_tracing_collector

    traces = get_tracing_collector()
    with pytest.raises(ValueError, match="duration_threshold_ms"):
        traces.get_slow_traces(10**400)
    with pytest.raises(TypeError, match="duration_threshold_ms"):
        traces.get_slow_traces("slow")  # type: ignore[arg-type]
    assert traces.get_slow_traces(float("inf")) == []


def test_retry_delays_beyond_a_float_are_refused() -> None:
    with pytest.raises(ValueError, match="base_delay"):
        retry_with_tracking(base_delay=10**400)


def test_a_span_id_that_is_no_string_is_an_unknown_span(process_wide) -> None:
    from monitoring_layer import _selfmon, get_tracing_collector

    traces = get_tracing_collector()
    assert traces.add_tag([1], "k", "v") is False  # type: ignore[arg-type]
    assert traces.add_event({"a": 1}, "e") is False  # type: ignore[arg-type]
    assert traces.end_span([1], "SUCCESS") is False  # type: ignore[arg-type]
    assert _selfmon.counts()["errors"]["tracing"] >= 3


def test_extract_refuses_a_carrier_that_is_no_mapping_or_pairs() -> None:
    with pytest.raises(TypeError, match="carrier"):
        extract(0.0)
    assert extract([("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")]) is not None


@pytest.mark.parametrize(("first", "second"), [
    (("b", "counter", ""), ("b_total", "counter", "")),
    (("a", "histogram", "s"), ("a_seconds", "histogram", "s")),
    (("QueueDepth", "gauge", ""), ("queuedepth", "gauge", "")),
    (("lat", "summary", "ms"), ("lat_seconds", "histogram", "s")),
])
def test_names_that_collide_in_prometheus_are_refused(process_wide, first, second) -> None:
    from monitoring_layer import get_metrics_collector

    metrics = get_metrics_collector()
    metrics.register_metric(first[0], first[1], unit=first[2])
    with pytest.raises(ValueError, match=f"{second[0]!r}.*{first[0]!r}"):
        metrics.register_metric(second[0], second[1], unit=second[2])
    metrics.register_metric(first[0], first[1], unit=first[2])  # registering the same again is fine
    record = {"counter": lambda: metrics.increment_counter(first[0]),
              "gauge": lambda: metrics.set_gauge(first[0], 1),
              "histogram": lambda: metrics.observe_histogram(first[0], 1),
              "summary": lambda: metrics.observe_summary(first[0], 1)}
    record[first[1]]()
    assert f"\n{metrics.prometheus_name(first[0])}" in metrics.export_prometheus_format()
