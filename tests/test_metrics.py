"""Metrics collector (SPEC.md section 1): API, types, statistics, faults, bounds, threads."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from monitoring_layer import MetricsCollector, MetricType, _selfmon, config
from monitoring_layer.metrics import UnknownMetricError


@pytest.fixture
def metrics(pipeline):
    collector = MetricsCollector(pipeline=pipeline)
    yield collector
    collector.close()


def test_spec_section_1_calls_work_as_written(process_wide):
    from monitoring_layer import get_metrics_collector

    # The process-wide collector, built on this test's private pipeline (not installed globally).
    metrics = get_metrics_collector()
    assert metrics is get_metrics_collector()
    metrics.register_metric(name="request_latency", metric_type="histogram",
                            description="Request latency", unit="ms")
    metrics.increment_counter("request_count", labels={"method": "GET"})
    metrics.set_gauge("active_connections", 42, labels={"service": "api"})
    metrics.observe_histogram("request_latency", 123.45)
    stats = metrics.get_metric_statistics("request_latency", labels={})
    assert {"count", "sum", "mean", "min", "max", "p50", "p95", "p99"} <= set(stats)
    assert stats["count"] == 1 and stats["p99"] == 123.45
    prometheus_text = metrics.export_prometheus_format()
    assert 'request_count_total{method="GET"' in prometheus_text
    json_export = metrics.export_metrics()
    json.dumps(json_export)
    assert set(json_export["metrics"]) == {"request_latency", "request_count", "active_connections"}


def test_register_same_type_is_a_no_op_and_another_type_raises(metrics):
    metrics.register_metric("jobs", "counter", "Jobs done")
    metrics.register_metric("jobs", "COUNTER")
    metrics.register_metric("jobs", MetricType.COUNTER)
    with pytest.raises(ValueError, match="already registered as a counter"):
        metrics.register_metric("jobs", "gauge")
    assert metrics.export_metrics()["metrics"]["jobs"]["description"] == "Jobs done"


@pytest.mark.parametrize("bad", ["timer", "", None, 3])
def test_unknown_type_raises_value_error_naming_the_argument(metrics, bad):
    with pytest.raises(ValueError, match="metric_type"):
        metrics.register_metric("x", bad)


@pytest.mark.parametrize("name", ["", "1abc", "bad-name", "__reserved", "_leading", "a:b", "a b", "é"])
def test_bad_metric_names_raise_at_registration_and_first_use(metrics, name):
    with pytest.raises(ValueError, match="name"):
        metrics.register_metric(name, "counter")
    with pytest.raises(ValueError, match="name"):
        metrics.increment_counter(name)


@pytest.mark.parametrize("label", ["1a", "a-b", "__x", "le", "quantile", ""])
def test_bad_label_names_raise_on_first_use(metrics, label):
    with pytest.raises(ValueError, match="label name"):
        metrics.increment_counter("ok_name", labels={label: "v"})


def test_label_values_are_converted_to_strings(metrics):
    metrics.increment_counter("http_requests", labels={"code": 200})
    metrics.increment_counter("http_requests", labels={"code": "200"})
    series = metrics.export_metrics()["metrics"]["http_requests"]["series"]
    assert [s["labels"] for s in series] == [{"code": "200"}]
    assert metrics.get_metric_statistics("http_requests", labels={"code": 200})["total"] == 2


def test_recording_registers_with_the_implied_type(metrics):
    metrics.increment_counter("a_counter")
    metrics.set_gauge("a_gauge", 1)
    metrics.observe_histogram("a_histogram", 1)
    metrics.observe_summary("a_summary", 1)
    types = {name: entry["type"] for name, entry in metrics.export_metrics()["metrics"].items()}
    assert types == {"a_counter": "counter", "a_gauge": "gauge", "a_histogram": "histogram",
                     "a_summary": "summary"}


def test_statistics_are_exact_with_linear_interpolation(metrics):
    values = [7, 1, 3, 10, 2, 8, 4, 9, 5, 6, 100]
    for v in values:
        metrics.observe_histogram("latency", v, labels={"route": "/a"})
    stats = metrics.get_metric_statistics("latency")
    ordered = sorted(values)

    def linear(q):  # numpy.percentile(values, q * 100), method="linear"
        rank = q * (len(ordered) - 1)
        low = int(rank)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (rank - low) * (ordered[high] - ordered[low])

    assert stats["count"] == 11 and stats["sum"] == sum(values)
    assert stats["min"] == 1 and stats["max"] == 100
    assert stats["mean"] == pytest.approx(sum(values) / 11)
    assert stats["p50"] == 6
    assert stats["p95"] == pytest.approx(linear(0.95)) == pytest.approx(55.0)
    assert stats["p99"] == pytest.approx(linear(0.99)) == pytest.approx(91.0)


def test_statistics_filter_series_by_the_given_label_pairs(metrics):
    metrics.observe_histogram("latency", 1, labels={"route": "/a", "method": "GET"})
    metrics.observe_histogram("latency", 2, labels={"route": "/a", "method": "POST"})
    metrics.observe_histogram("latency", 30, labels={"route": "/b", "method": "GET"})
    assert metrics.get_metric_statistics("latency", labels={"route": "/a"})["sum"] == 3
    assert metrics.get_metric_statistics("latency", labels={"method": "GET"})["sum"] == 31
    assert metrics.get_metric_statistics("latency", labels={"route": "/a", "method": "POST"})["max"] == 2
    assert metrics.get_metric_statistics("latency", labels={})["count"] == 3
    assert metrics.get_metric_statistics("latency", labels=None)["count"] == 3
    empty = metrics.get_metric_statistics("latency", labels={"route": "/zzz"})
    assert empty["count"] == 0 and empty["mean"] is None and empty["p50"] is None


def test_counter_and_gauge_statistics(metrics):
    for _ in range(3):
        metrics.increment_counter("jobs", 2, labels={"kind": "batch"})
    metrics.set_gauge("queue_depth", 5)
    metrics.set_gauge("queue_depth", 3)
    jobs = metrics.get_metric_statistics("jobs")
    assert jobs["total"] == 6 and jobs["count"] == 3 and jobs["total_count"] == 3
    depth = metrics.get_metric_statistics("queue_depth")
    assert depth["last"] == 3 and depth["max"] == 5 and depth["count"] == 2


def test_unknown_metric_statistics_raise_a_clear_key_error(metrics):
    with pytest.raises(KeyError, match="unknown metric 'nope'") as info:
        metrics.get_metric_statistics("nope")
    assert isinstance(info.value, UnknownMetricError)


def test_points_are_bounded_per_metric_and_drops_counted(pipeline):
    settings = config.resolve_settings(overrides={"metrics_max_points": 5})
    metrics = MetricsCollector(pipeline.meter_provider, settings=settings)
    try:
        for i in range(12):
            metrics.observe_histogram("latency", i, labels={"n": str(i % 2)})
        stats = metrics.get_metric_statistics("latency")
        assert stats["count"] == 5 and stats["min"] == 7 and stats["max"] == 11
        assert stats["total_count"] == 12  # lifetime, not limited by retention
        assert _selfmon.counts()["dropped"][("metrics", "retention_count")] == 7
        assert metrics.export_metrics()["metrics"]["latency"]["dropped_points"] == 7
    finally:
        metrics.close()


def test_points_older_than_retention_are_dropped(metrics, monkeypatch):
    from monitoring_layer.metrics import _collector

    real = _collector._time_ns
    monkeypatch.setattr(_collector, "_time_ns", lambda: real() - 8 * 86_400 * 10**9)
    metrics.observe_histogram("latency", 1000)
    monkeypatch.setattr(_collector, "_time_ns", real)
    metrics.observe_histogram("latency", 1)
    stats = metrics.get_metric_statistics("latency")
    assert stats["count"] == 1 and stats["max"] == 1
    assert _selfmon.counts()["dropped"][("metrics", "retention_age")] == 1


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize("call, args, kind", [
    ("increment_counter", ("c", -1), "metric_value"),
    ("increment_counter", ("c", float("nan")), "metric_value"),
    ("observe_histogram", ("h", "slow"), "metric_value"),
    ("set_gauge", ("g", None), "metric_value"),
    ("set_gauge", ("c", 3), "metric_type"),
])
def test_record_time_faults_raise_under_strict(metrics, call, args, kind):
    metrics.increment_counter("c")
    with pytest.raises((ValueError, TypeError)):
        getattr(metrics, call)(*args)
    assert _selfmon.counts()["errors"][kind] == 1


def test_record_time_faults_are_contained_counted_and_logged_once(pipeline, monkeypatch, caplog):
    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()
    metrics = MetricsCollector(pipeline=pipeline)
    try:
        metrics.increment_counter("c", 5)
        with caplog.at_level(logging.WARNING, logger="monitoring_layer"):
            for bad in (-1, float("nan"), -2):
                metrics.increment_counter("c", bad)
            metrics.set_gauge("c", 1)           # a counter used as a gauge
            metrics.observe_histogram("h", "x")
        assert metrics.get_metric_statistics("c")["total"] == 5
        errors = _selfmon.counts()["errors"]
        assert errors["metric_value"] == 4 and errors["metric_type"] == 1
        messages = [r.getMessage() for r in caplog.records]
        assert len(messages) == 3  # once per (metric, kind)
        text = metrics.export_prometheus_format()
        assert 'monitoring_layer_errors_total{kind="metric_value"' in text
        assert 'monitoring_layer_errors_total{kind="metric_type"' in text
    finally:
        metrics.close()


# --------------------------------------------------------------------------- cardinality


def test_cardinality_cap_sends_extra_label_sets_to_one_overflow_series(pipeline, caplog):
    settings = config.resolve_settings(overrides={"metrics_cardinality_limit": 3})
    metrics = MetricsCollector(pipeline.meter_provider, settings=settings)
    try:
        with caplog.at_level(logging.WARNING, logger="monitoring_layer"):
            for i in range(10):
                metrics.increment_counter("by_user", labels={"user": f"u{i}"})
        labels = [s["labels"] for s in metrics.export_metrics()["metrics"]["by_user"]["series"]]
        assert labels == [{"user": "u0"}, {"user": "u1"}, {"user": "u2"}, {"otel_metric_overflow": "true"}]
        assert metrics.get_metric_statistics("by_user", labels={"otel_metric_overflow": "true"})["total"] == 7
        assert metrics.get_metric_statistics("by_user")["total"] == 10
        assert _selfmon.counts()["dropped"][("metrics", "cardinality_overflow")] == 7
        assert sum("cardinality limit" in r.getMessage() for r in caplog.records) == 1
        text = metrics.export_prometheus_format()
        assert 'by_user_total{otel_metric_overflow="true"' in text
    finally:
        metrics.close()


def test_memory_stays_bounded_with_a_million_label_values(pipeline):
    import tracemalloc

    settings = config.resolve_settings(overrides={"metrics_cardinality_limit": 100, "metrics_max_points": 1000})
    metrics = MetricsCollector(pipeline.meter_provider, settings=settings)
    try:
        inc = metrics.increment_counter
        for i in range(900_000):  # every structure reaches its bound
            inc("by_id", labels={"id": str(i)})
        tracemalloc.start()  # traced only at the end: tracing slows every allocation
        before = tracemalloc.take_snapshot()
        for i in range(900_000, 1_000_000):
            inc("by_id", labels={"id": str(i)})
        grown = sum(stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename"))
        tracemalloc.stop()
        assert grown < 500_000, f"memory grew by {grown} bytes over the last 100,000 label values"
        assert metrics.get_metric_statistics("by_id")["total"] == 1_000_000
        assert metrics.get_metric_statistics("by_id")["series"] == 101
    finally:
        metrics.close()


# --------------------------------------------------------------------------- threads


def test_concurrent_increments_give_an_exact_total_everywhere(pipeline, home):
    metrics = MetricsCollector(pipeline=pipeline)
    threads, per_thread = 8, 100_000

    def work():
        inc = metrics.increment_counter
        for _ in range(per_thread):
            inc("hits", labels={"shard": "a"})

    try:
        _all_at_once(threads, work)
        expected = threads * per_thread
        assert metrics.get_metric_statistics("hits")["total"] == expected
        assert f'hits_total{{otel_scope_name="monitoring_layer.metrics",otel_scope_schema_url="",' \
               f'otel_scope_version="{_version()}",shard="a"}} {float(expected)}' in metrics.export_prometheus_format()
        assert pipeline.flush()
        document = json.loads((home / "metrics" / "metrics_registry.json").read_text())
        entry = document["metrics"]["hits"]
        assert entry["statistics"]["total"] == expected
        assert entry["series"][0]["sum"] == expected
    finally:
        metrics.close()


def test_concurrent_gauge_steps_and_observations_add_up_exactly(pipeline):
    # Every fast path's critical section (no call inside, so no thread is switched out holding
    # the lock): eight threads at once on one series of each kind lose nothing.
    metrics = MetricsCollector(pipeline=pipeline)
    threads, per_thread = 8, 20_000

    def work():
        for _ in range(per_thread):
            metrics.increment_gauge("in_flight", 1, labels={"pool": "a"})
            metrics.set_gauge("level", 2.0, labels={"pool": "a"})
            metrics.observe_histogram("latency_ms", 3.0, labels={"pool": "a"})
            metrics.observe_summary("size_bytes", 4.0, labels={"pool": "a"})

    try:
        _all_at_once(threads, work)
        n = threads * per_thread
        readings = {r.name: r for r in metrics.readings(0)}
        assert readings["in_flight"].value == n and readings["in_flight"].count == n
        assert readings["level"].count == n and readings["level"].sum == 2.0 * n
        assert readings["latency_ms"].count == n and readings["latency_ms"].sum == 3.0 * n
        assert readings["size_bytes"].count == n and readings["size_bytes"].sum == 4.0 * n
        assert metrics.get_metric_statistics("latency_ms")["total_count"] == n
    finally:
        metrics.close()


# --------------------------------------------------------------------------- recorders


def test_a_recorder_records_as_the_call_of_its_metric_type(metrics):
    metrics.register_metric("rows", "counter")
    metrics.register_metric("level", "gauge")
    metrics.register_metric("latency_ms", "histogram")
    metrics.register_metric("size_bytes", "summary")
    labels = {"table": "orders"}
    rows, level = metrics.recorder("rows", labels), metrics.recorder("level", labels)
    latency, size = metrics.recorder("latency_ms", labels), metrics.recorder("size_bytes", labels)
    for value in (1, 2.5, 3):
        rows(value)
        level(value)
        latency(value)
        size(value)
    metrics.increment_counter("rows", 4, labels)  # the facade's call reaches the same series
    readings = {r.name: r for r in metrics.readings(0)}
    assert readings["rows"].value == 10.5 and readings["rows"].count == 4
    assert readings["level"].value == 3 and readings["level"].count == 3
    assert metrics.get_metric_statistics("latency_ms", labels)["count"] == 3
    assert readings["latency_ms"].sum == 6.5 and readings["size_bytes"].sum == 6.5
    assert 'rows_total{otel_scope_name="monitoring_layer.metrics"' in metrics.export_prometheus_format()


def test_a_recorder_refuses_bad_setup_naming_the_argument(metrics):
    with pytest.raises(ValueError, match="name: metric 'nope' is not registered"):
        metrics.recorder("nope")
    with pytest.raises(ValueError, match="metric_type"):
        metrics.recorder("nope", metric_type="speedometer")
    with pytest.raises(ValueError):
        metrics.recorder("bad name!", metric_type="counter")
    with pytest.raises(ValueError):
        metrics.recorder("jobs", {"bad label!": "x"}, metric_type="counter")
    with pytest.raises(TypeError, match="labels of metric 'jobs' must be a dict"):
        metrics.recorder("jobs", ["x"], metric_type="counter")  # type: ignore[arg-type]


def test_a_recorder_with_a_metric_type_registers_it_and_checks_each_value(pipeline, monkeypatch):
    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()
    metrics = MetricsCollector(pipeline=pipeline)
    try:
        jobs = metrics.recorder("jobs", metric_type="counter")
        latency = metrics.recorder("wait_ms", {"queue": "a"}, metric_type="histogram")
        jobs(2)
        jobs(-1)                # refused: a counter only goes up (metric_value)
        jobs(float("nan"))
        latency(-5)             # dropped and counted, as observe_histogram drops it
        latency(7)
        as_gauge = metrics.recorder("jobs", metric_type="gauge")  # registered as a counter
        as_gauge(9)             # the value is dropped: metric_type fault, as set_gauge("jobs", 9) would be
        assert metrics.get_metric_statistics("jobs")["total"] == 2
        assert metrics.get_metric_statistics("wait_ms")["count"] == 1
        errors, dropped = _selfmon.counts()["errors"], _selfmon.counts()["dropped"]
        assert errors["metric_value"] == 3 and errors["metric_type"] == 1
        assert dropped[("metrics", "negative_value")] == 1
    finally:
        metrics.close()


def test_a_recorder_keeps_its_series_when_the_callers_labels_change(metrics):
    labels = {"shard": "a"}
    hits = metrics.recorder("hits", labels, metric_type="counter")
    labels["shard"] = "b"
    hits(1)
    assert metrics.get_metric_statistics("hits", {"shard": "a"})["total"] == 1
    assert [s["labels"] for s in metrics.export_metrics()["metrics"]["hits"]["series"]] == [{"shard": "a"}]


def test_a_recorder_past_the_cardinality_limit_counts_every_record(pipeline):
    settings = config.resolve_settings(overrides={"metrics_cardinality_limit": 1})
    metrics = MetricsCollector(pipeline.meter_provider, settings=settings)
    try:
        metrics.increment_counter("by_user", labels={"user": "u0"})
        late = metrics.recorder("by_user", {"user": "u1"})
        for _ in range(3):
            late(1)
        assert metrics.get_metric_statistics("by_user", labels={"otel_metric_overflow": "true"})["total"] == 3
        assert _selfmon.counts()["dropped"][("metrics", "cardinality_overflow")] == 4  # the recorder's, then each
    finally:
        metrics.close()


def test_a_recorder_of_a_disabled_collector_records_and_registers_nothing():
    from opentelemetry.metrics import NoOpMeterProvider

    settings = config.resolve_settings(overrides={"sdk_disabled": True})
    metrics = MetricsCollector(NoOpMeterProvider(), settings=settings)
    metrics.recorder("x", metric_type="counter")(1)
    assert metrics.export_metrics()["metrics"] == {}


def test_recorders_from_many_threads_add_up_exactly(pipeline):
    metrics = MetricsCollector(pipeline=pipeline)
    threads, per_thread = 8, 20_000
    count = metrics.recorder("calls", {"pool": "a"}, metric_type="counter")
    observe = metrics.recorder("took_ms", {"pool": "a"}, metric_type="histogram")

    def work():
        for _ in range(per_thread):
            count(1)
            observe(3.0)

    try:
        _all_at_once(threads, work)
        n = threads * per_thread
        readings = {r.name: r for r in metrics.readings(0)}
        assert readings["calls"].value == n
        assert readings["took_ms"].count == n and readings["took_ms"].sum == 3.0 * n
    finally:
        metrics.close()


def _all_at_once(threads, work):
    """Run ``work`` in ``threads`` threads released together; return when all are done."""
    barrier = threading.Barrier(threads)

    def run():
        barrier.wait()
        work()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def _version() -> str:
    from monitoring_layer import __version__

    return __version__


# --------------------------------------------------------------------------- OTel


def test_every_metric_is_a_real_otel_instrument_seen_by_any_reader():
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics = MetricsCollector(provider)
    try:
        metrics.increment_counter("jobs", 3, labels={"queue": "q1"})
        metrics.set_gauge("memory_used", 2, labels={"host": "h"})
        metrics.register_metric("io_size", "histogram", unit="MB")
        metrics.observe_histogram("io_size", 1.5)
        metrics.observe_summary("duration", 250)
        data = reader.get_metrics_data()
        seen = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
        assert set(seen) == {"jobs", "memory_used", "io_size", "duration"}
        assert seen["jobs"].data.data_points[0].value == 3
        assert dict(seen["jobs"].data.data_points[0].attributes) == {"queue": "q1"}
        assert seen["memory_used"].data.data_points[0].value == 2
        # OTel readers see base units: 1.5 MB as 1,500,000 By
        assert seen["io_size"].unit == "By" and seen["io_size"].data.data_points[0].sum == 1_500_000
        assert seen["duration"].data.data_points[0].count == 1
        assert metrics.get_metric_statistics("io_size")["sum"] == 1.5  # the facade keeps the unit given
    finally:
        metrics.close()
        provider.shutdown()


def test_sdk_disabled_records_nothing(monkeypatch):
    from opentelemetry.metrics import NoOpMeterProvider

    settings = config.resolve_settings(overrides={"sdk_disabled": True})
    metrics = MetricsCollector(NoOpMeterProvider(), settings=settings)
    metrics.increment_counter("x")
    metrics.observe_histogram("y", 1)
    assert metrics.export_metrics()["metrics"] == {}


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_records_with_fresh_locks_and_its_own_source(metrics):
    import os

    metrics.increment_counter("jobs", 2)
    jobs = metrics.recorder("jobs")  # made in the parent, used in the child: the same series, renewed
    metric = metrics._metrics["jobs"]
    metric.lock.acquire()  # as if another thread held it at fork time
    try:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            try:
                metrics.increment_counter("jobs", 3)
                jobs(4)
                entry = metrics.export_metrics()["metrics"]["jobs"]
                os.write(write_end, json.dumps([entry["statistics"]["total"],
                                                entry["series"][0]["source"]]).encode())
            finally:
                os._exit(0)
    finally:
        metric.lock.release()
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        total, source = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert total == 7  # the child's own series starts from zero: the parent's 2 are the parent's
    assert source.endswith(f"/{pid}")
    assert metrics.get_metric_statistics("jobs")["total"] == 2


def test_histogram_values_reach_otel_exactly_while_readers_collect_concurrently(pipeline):
    from prometheus_client.parser import text_string_to_metric_families

    metrics = MetricsCollector(pipeline=pipeline)
    threads, per_thread = 4, 20_000
    barrier = threading.Barrier(threads + 1)
    done = threading.Event()

    def work(n):
        barrier.wait()
        for i in range(per_thread):
            metrics.observe_histogram("latency", i % 100, labels={"worker": str(n % 2)})

    def scrape():
        barrier.wait()
        while not done.is_set():
            metrics.export_prometheus_format()  # a collection drains the buffers meanwhile

    try:
        workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        scraper = threading.Thread(target=scrape)
        for t in [*workers, scraper]:
            t.start()
        for t in workers:
            t.join()
        done.set()
        scraper.join()
        families = {f.name: f for f in text_string_to_metric_families(metrics.export_prometheus_format())}
        counts = [s.value for s in families["latency"].samples if s.name == "latency_count"]
        assert sum(counts) == threads * per_thread
        assert metrics.get_metric_statistics("latency")["total_count"] == threads * per_thread
    finally:
        metrics.close()


def test_buffered_histogram_values_stay_bounded_without_collections(metrics, monkeypatch):
    from monitoring_layer.metrics import _collector

    monkeypatch.setattr(_collector, "PENDING_LIMIT", 50)
    monkeypatch.setattr(_collector, "DRAIN_CHUNK", 8)
    for i in range(1000):
        metrics.observe_histogram("latency", i, labels={"k": str(i % 3)})
    waiting = sum(len(s.pending) for s in metrics._metrics["latency"].series.values())
    assert waiting <= 50
    text = metrics.export_prometheus_format()
    assert "latency_count" in text
    from prometheus_client.parser import text_string_to_metric_families

    family = {f.name: f for f in text_string_to_metric_families(text)}["latency"]
    assert sum(s.value for s in family.samples if s.name == "latency_count") == 1000


def test_label_order_does_not_make_a_new_series(metrics):
    metrics.increment_counter("jobs", labels={"a": "1", "b": "2"})
    metrics.increment_counter("jobs", labels={"b": "2", "a": "1"})
    metrics.increment_counter("jobs", labels={"a": "1", "b": "2"})
    entry = metrics.export_metrics()["metrics"]["jobs"]
    assert [(s["labels"], s["sum"]) for s in entry["series"]] == [({"a": "1", "b": "2"}, 3)]


def test_two_collectors_on_one_provider_both_reach_otel(pipeline):
    from prometheus_client.parser import text_string_to_metric_families

    first = MetricsCollector(pipeline=pipeline)
    second = MetricsCollector(pipeline=pipeline)
    try:
        first.increment_counter("jobs", 2, labels={"app": "one"})
        second.increment_counter("jobs", 5, labels={"app": "two"})
        second.observe_histogram("latency", 3)
        second.observe_summary("size", 4)
        text = first.export_prometheus_format()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        jobs = {s.labels["app"]: s.value for s in families["jobs"].samples}
        assert jobs == {"one": 2.0, "two": 5.0}
        assert [s.value for s in families["latency"].samples if s.name == "latency_count"] == [1.0]
        assert families["size"].type == "summary"
    finally:
        first.close()
        second.close()
