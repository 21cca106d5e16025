"""Integration: a real Prometheus server scrapes the /metrics endpoint of a pipeline.

Needs the ``prometheus`` binary (Debian package ``prometheus``); skipped without
it, except under ``CI=true`` where a missing binary fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from monitoring_layer import MetricsCollector, config
from monitoring_layer.pipeline import Pipeline

pytestmark = pytest.mark.integration


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is missing (Debian package 'prometheus') and CI=true")
        pytest.skip(f"{name} not installed (Debian package 'prometheus')")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
            return json.load(response)
    except OSError:
        return None


@pytest.fixture
def scraped_pipeline():
    settings = config.resolve_settings(overrides={"export_interval_s": 3600, "prometheus_port": 0,
                                                  "prometheus_host": "127.0.0.1"})
    built = Pipeline(settings)
    yield built
    built.shutdown()


@pytest.fixture
def prometheus_server(tmp_path: Path, scraped_pipeline):
    binary = _binary("prometheus")
    host, port = scraped_pipeline.prometheus_address
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: monitoring_layer\n    scrape_interval: 1s\n"
        f"    static_configs:\n      - targets: ['{host}:{port}']\n"
    )
    web_port = _free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [binary, f"--config.file={config_file}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{web_port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{web_port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _query_until(base: str, query: str, accept, deadline_s: float = 60.0) -> float:
    """Poll Prometheus' HTTP API until ``query`` returns a value ``accept`` takes."""
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    deadline = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < deadline:
        answer = _get(url)
        if answer and answer.get("status") == "success" and answer["data"]["result"]:
            last = float(answer["data"]["result"][0]["value"][1])
            if accept(last):
                return last
        time.sleep(0.25)  # an external server's scrape cycle: nothing in-process to flush
    raise AssertionError(f"Prometheus never answered {query!r} as expected (last value: {last})")


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

        count = _query_until(prometheus_server, 'request_count_total{method="GET"}', lambda v: v == 7)
        assert count == 7
        median = _query_until(prometheus_server,
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
