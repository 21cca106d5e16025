"""Integration: a real Prometheus server scrapes the /metrics endpoint of a pipeline.

Needs the ``prometheus`` binary (Debian package ``prometheus``); skipped without
it, except under ``CI=true`` where a missing binary fails the test.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from monitoring_layer import MetricsCollector, config
from monitoring_layer.pipeline import Pipeline

from _prometheus_server import prometheus, query_until

pytestmark = pytest.mark.integration


@pytest.fixture
def scraped_pipeline():
    settings = config.resolve_settings(overrides={"export_interval_s": 3600, "prometheus_port": 0,
                                                  "prometheus_host": "127.0.0.1"})
    built = Pipeline(settings)
    yield built
    built.shutdown()


@pytest.fixture
def prometheus_server(tmp_path: Path, scraped_pipeline):
    host, port = scraped_pipeline.prometheus_address
    with prometheus(tmp_path, f"{host}:{port}") as base:
        yield base


def test_prometheus_scrapes_counter_and_histogram(scraped_pipeline, prometheus_server):
    host, port = scraped_pipeline.prometheus_address
    assert host == "127.0.0.1" and port > 0
    metrics = MetricsCollector(pipeline=scraped_pipeline)
    try:
        metrics.register_metric("request_latency", "histogram", "Request latency", "ms")
        for _ in range(7):
            metrics.increment_counter("request_count", labels={"method": "GET"})
        for value in (3, 8, 40, 40, 40, 300):
            metrics.observe_histogram("request_latency", value)

        count = query_until(prometheus_server, 'request_count_total{method="GET"}', lambda v: v == 7)
        assert count == 7
        median = query_until(prometheus_server,
                              "histogram_quantile(0.5, sum by (le) (request_latency_seconds_bucket))",
                              lambda v: v == v)  # not NaN
        assert 0.025 <= median <= 0.05  # the median 40 ms lies in the (25 ms, 50 ms] bucket
    finally:
        metrics.close()


def test_otel_exporter_prometheus_port_serves_metrics(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "0")  # 0: a free port
    settings = config.resolve_settings(overrides={"export_interval_s": 3600})
    pipeline = Pipeline(settings)
    metrics = MetricsCollector(pipeline=pipeline)
    try:
        host, port = pipeline.prometheus_address
        assert host == "127.0.0.1"  # OTEL_EXPORTER_PROMETHEUS_HOST's default
        metrics.increment_counter("request_count", 3, labels={"method": "GET"})
        metrics.observe_summary("duration", 2)
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as response:  # noqa: S310
            text = response.read().decode()
        assert 'request_count_total{method="GET",' in text
        assert "# TYPE duration summary" in text
    finally:
        metrics.close()
        pipeline.shutdown()
