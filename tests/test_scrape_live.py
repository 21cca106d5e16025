"""/metrics renders the facade's counters and gauges (and the self-metrics) from their live series.

What must hold: the same samples OTel's own Prometheus exporter renders for those instruments, in
both exposition formats; values current at the scrape (no flush needed); target_info in every scrape;
every other reader still gets the observations.
"""

from __future__ import annotations

import gzip
import subprocess
import urllib.request
from collections.abc import Iterator

import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from monitoring_layer import config, server
from monitoring_layer.metrics import MetricsCollector
from monitoring_layer.metrics._prometheus import LiveFamily, render_exposition
from monitoring_layer.pipeline import Pipeline

from _requires import require

OPENMETRICS = "application/openmetrics-text;version=1.0.0"


@pytest.fixture
def small() -> Iterator[Pipeline]:
    built = Pipeline(config.resolve_settings(overrides={"export_interval_s": 3600, "metrics_cardinality_limit": 3,
                                                        "prometheus_runtime_metrics": False}))
    yield built
    built.shutdown()


@pytest.fixture
def metrics(small: Pipeline) -> Iterator[MetricsCollector]:
    collector = MetricsCollector(pipeline=small)
    yield collector
    collector.close()


def _record(metrics: MetricsCollector) -> None:
    for i in range(5):  # 3 series, then the overflow series
        metrics.increment_counter("jobs", 2.5, labels={"queue": f"q{i}", "note": 'say "hi"\\ \n bye'})
    metrics.register_metric("kafka_wait_ms", "counter", "Waiting", "ms")
    metrics.increment_counter("kafka_wait_ms", 1500)
    metrics.register_metric("payload", "gauge", "Payload size", "MB")
    metrics.set_gauge("payload", 2)
    metrics.set_gauge("depth", 1e22, labels={"q": "a"})
    metrics.increment_gauge("inflight", 3)
    metrics.register_metric("unused", "counter", "never recorded")


def _samples(families, names: set[str]) -> dict[str, tuple]:
    # Labels OTel backfills with "" are the same as absent for Prometheus.
    return {f.name: (f.documentation, f.type, f.unit,
                     sorted((s.name, tuple(sorted((k, v) for k, v in s.labels.items() if v)), s.value)
                            for s in f.samples))
            for f in families if f.name in names}


def test_live_families_are_what_otel_renders_in_both_formats(small: Pipeline, metrics: MetricsCollector) -> None:
    plain_registry = CollectorRegistry(auto_describe=False)
    plain = PrometheusMetricReader(registry=plain_registry)  # OTel's own exporter, same provider
    small.meter_provider.add_metric_reader(plain)
    try:
        _record(metrics)
        render_exposition(small.prometheus_registry)  # the first scrape keeps target_info
        live = [f for f in small.prometheus_registry.collect() if isinstance(f, LiveFamily)]
        names = {f.name for f in live}
        assert {"jobs", "kafka_wait_seconds", "payload_bytes", "depth", "inflight", "monitoring_layer_errors",
                "monitoring_layer_dropped"} <= names
        assert "unused" not in names  # no family without series, as OTel does

        expected_text = _samples(parse_text(generate_latest(plain_registry).decode()), names)
        ours_text = _samples(parse_text(render_exposition(small.prometheus_registry)[0].decode()), names)
        assert ours_text == expected_text
        assert ours_text["jobs"][3][-1] == ("jobs_total", (
            ("otel_metric_overflow", "true"), ("otel_scope_name", "monitoring_layer.metrics"),
            ("otel_scope_version", "0.1.0")), 5.0)

        from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

        expected_om = _samples(parse_openmetrics(openmetrics_latest(plain_registry).decode()), names)
        body, content_type = render_exposition(small.prometheus_registry, OPENMETRICS)
        assert content_type.startswith("application/openmetrics-text")
        assert body.endswith(b"# EOF\n") and body.count(b"# EOF") == 1
        assert _samples(parse_openmetrics(body.decode()), names) == expected_om
    finally:
        small.meter_provider.remove_metric_reader(plain)


def test_other_readers_still_get_the_observations(small: Pipeline, metrics: MetricsCollector) -> None:
    metrics.increment_counter("jobs", 4, labels={"queue": "a"})
    render_exposition(small.prometheus_registry)
    render_exposition(small.prometheus_registry)  # silenced for the bridge from now on
    small.flush()  # the readings reader collects: the facade's series are there
    readings = [r for r in small.readings.latest() if r.name == "jobs"]
    assert [(dict(r.labels), r.value) for r in readings] == [({"queue": "a"}, 4.0)]
    errors = [r for r in small.readings.latest() if r.name == "monitoring_layer_errors"]
    assert errors and all(r.value == 0 for r in errors)  # the self-metrics reach the readings too


def test_a_scrape_shows_what_was_recorded_just_before_it(small: Pipeline, metrics: MetricsCollector) -> None:
    def jobs() -> float:
        text = render_exposition(small.prometheus_registry)[0].decode()
        return next(s.value for f in parse_text(text) if f.name == "jobs" for s in f.samples)

    metrics.increment_counter("jobs")
    assert jobs() == 1
    metrics.increment_counter("jobs", 2)
    assert jobs() == 3  # no flush(): the value is read at the scrape
    metrics.set_gauge("depth", 7)
    text = render_exposition(small.prometheus_registry)[0].decode()
    assert "\ndepth{" in text and "} 7.0\n" in text


def test_target_info_is_in_every_scrape_and_promtool_accepts_them(small: Pipeline,
                                                                  metrics: MetricsCollector) -> None:
    _record(metrics)
    promtool = require("promtool", "Debian package 'prometheus' provides promtool")
    for _ in range(3):
        text = render_exposition(small.prometheus_registry)[0].decode()
        assert text.count("# HELP target_info ") == 1 and text.count("\ntarget_info{") == 1
        result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                                timeout=60, check=False)
        assert result.returncode == 0, result.stdout + result.stderr + "\n" + text
        body = render_exposition(small.prometheus_registry, OPENMETRICS)[0].decode()
        assert body.count("# TYPE target info") == 1
        list(parse_openmetrics(body))  # strict parser: raises on an invalid exposition


def test_served_metrics_in_openmetrics_and_gzip(small: Pipeline, metrics: MetricsCollector) -> None:
    _record(metrics)
    with server.start(small) as handle:
        for _ in range(2):
            request = urllib.request.Request(handle.url + "/metrics",
                                             headers={"Accept": OPENMETRICS, "Accept-Encoding": "gzip"})
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
                assert response.headers["Content-Encoding"] == "gzip"
                assert response.headers["Content-Type"].startswith("application/openmetrics-text")
                text = gzip.decompress(response.read()).decode()
            families = {f.name: f for f in parse_openmetrics(text)}
            assert families["jobs"].type == "counter" and len(families["jobs"].samples) == 4
            assert families["kafka_wait_seconds"].samples[0].value == 1.5


def test_a_live_family_whose_samples_are_replaced_is_rendered_from_them() -> None:
    family = LiveFamily("jobs", "Jobs", "counter", "", object(),
                        [('jobs_total{a="b"} ', "jobs_total", {"a": "b"}, 2.0)])
    assert family.text() == 'jobs_total{a="b"} 2.0\n'
    assert [(s.name, s.labels, s.value) for s in family.samples] == [("jobs_total", {"a": "b"}, 2.0)]
    family.samples = []
    family.add_sample("jobs_total", {"a": "c"}, 5.0)
    assert family.text() is None  # the cached lines would lie: prometheus_client renders it

    class One:
        def collect(self) -> list[Metric]:
            return [family]

    assert b'jobs_total{a="c"} 5.0' in render_exposition(One())[0]


def test_the_bridge_collection_does_no_otel_work_for_live_metrics(small: Pipeline, metrics: MetricsCollector,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    metrics.increment_counter("jobs", labels={"queue": "a"})
    metrics.set_gauge("depth", 1)
    bridge = small.prometheus_bridge
    seen: list[list[str]] = []

    class Spy:  # what OTel's collection yielded to the bridge at each scrape
        def __init__(self, registry: CollectorRegistry) -> None:
            self.registry = registry

        def collect(self):
            families = list(self.registry.collect())
            seen.append(sorted(f.name for f in families))
            return families

    monkeypatch.setattr(bridge, "otel_registry", Spy(bridge.otel_registry))
    render_exposition(small.prometheus_registry)
    render_exposition(small.prometheus_registry)
    # The first scrape leaves the self-metrics to OTel (its output then has target_info, kept);
    # the facade's series never reach the Prometheus reader's storage.
    assert "target" in seen[0] and "monitoring_layer_errors" in seen[0], seen[0]
    assert "jobs" not in seen[0] and "depth" not in seen[0], seen[0]
    assert not any(name in ("jobs", "depth") or name.startswith("monitoring_layer_") for name in seen[1]), seen[1]


def test_without_self_metrics_the_first_scrape_is_otels_and_target_info_stays() -> None:
    from opentelemetry.sdk.metrics import MeterProvider

    provider = MeterProvider()  # no pipeline: the collector's own bridge, no self-metrics
    collector = MetricsCollector(meter_provider=provider)
    try:
        collector.increment_counter("jobs", 2)
        for _ in range(3):
            text = collector.export_prometheus_format()
            assert text.count("target_info{") == 1, text
            assert "jobs_total{" in text and "} 2.0" in text
    finally:
        collector.close()
        provider.shutdown()
