"""A real Prometheus keeps scraping a process whose clients would make one series per URL or key.

OTel's own urllib instrumentation calls 2,000 distinct URLs, a third-party meter counts 300 keys
and the facade records 300 label values, all while a real ``prometheus`` scrapes ``/metrics``
every second. The target stays up, every scrape stays below the bound the cardinality limit
gives, the overflow series are there and the refused label sets are counted.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from monitoring_layer import _selfmon, config
from monitoring_layer.metrics import MetricsCollector
from monitoring_layer.pipeline import Pipeline

from _loopback import ok_backend
from _prometheus_server import api, prometheus, query_until
from _requires import require

pytestmark = pytest.mark.integration

LIMIT = 20  # MONITORING_METRICS_CARDINALITY_LIMIT of this test
URLS = 2_000
KEYS = 300
#: samples of one series of an OTel histogram with the default buckets: 15 bounds + Inf, _count, _sum
HISTOGRAM_SAMPLES = 18


@pytest.fixture
def served() -> Iterator[Pipeline]:
    settings = config.resolve_settings(overrides={
        "export_interval_s": 3600, "prometheus_port": 0, "prometheus_host": "127.0.0.1",
        "metrics_cardinality_limit": LIMIT, "prometheus_runtime_metrics": False})
    built = Pipeline(settings)
    yield built
    built.shutdown()


@pytest.fixture
def backend() -> Iterator[str]:
    """A local HTTP server answering 200 on every path."""
    with ok_backend() as url:
        yield url


@contextmanager
def _failed_scrapes(base: str) -> Iterator[list[tuple[str, float]]]:
    """Prometheus' reason for every failed scrape seen while polling its targets (to explain a failure)."""
    failures: list[tuple[str, float]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.2):
            answer = api(f"{base}/api/v1/targets") or {"data": {"activeTargets": []}}
            for target in answer["data"]["activeTargets"]:
                if target["health"] == "down":
                    failures.append((target["lastError"], target["lastScrapeDuration"]))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield failures
    finally:
        stop.set()
        watcher.join(timeout=10)


def _since(started: float) -> int:
    """Whole seconds from ``started`` until now, rounded down (a range selector that covers no earlier scrape)."""
    return max(1, int(time.time() - started))


def _raw(base: str, selector: str) -> list[tuple[float, float]]:
    """The raw samples of a range selector: ``(timestamp, value)`` of every scrape in it."""
    answer = api(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": selector}))
    assert answer and answer["status"] == "success", answer
    return [(float(t), float(v)) for result in answer["data"]["result"] for t, v in result["values"]]


def _series(base: str, match: str) -> list[dict[str, str]]:
    answer = api(f"{base}/api/v1/series?" + urllib.parse.urlencode({"match[]": match}))
    assert answer and answer["status"] == "success", answer
    return answer["data"]


def test_prometheus_stays_up_with_high_cardinality_clients(tmp_path: Path, served: Pipeline, backend: str) -> None:
    require("prometheus", "Debian package 'prometheus'")
    from opentelemetry.instrumentation.urllib import URLLibInstrumentor

    host, port = served.prometheus_address
    metrics = MetricsCollector(pipeline=served)
    third_party = served.meter_provider.get_meter("third.party").create_counter("lookups")
    instrumentor = URLLibInstrumentor()
    instrumentor.instrument(meter_provider=served.meter_provider, tracer_provider=served.tracer_provider)
    try:
        with prometheus(tmp_path, f"{host}:{port}") as base, _failed_scrapes(base) as failures:
            query_until(base, 'up{job="monitoring_layer"}', lambda v: v == 1)
            # The traffic runs while Prometheus scrapes every second.
            started = time.time()
            for i in range(URLS):
                with urllib.request.urlopen(f"{backend}/orders/{i}?customer={i % 97}", timeout=10) as answer:
                    answer.read()
                if i < KEYS:
                    third_party.add(1, {"key": f"user-{i}"})
                    metrics.increment_counter("jobs", labels={"tenant": f"tenant-{i}"})

            refused = 2 * (KEYS - LIMIT)  # the label sets beyond the limit, facade and third party
            query_until(base, 'monitoring_layer_dropped_total{signal="metrics",reason="cardinality_overflow"}',
                        lambda v: v >= refused)
            overflow = query_until(base, 'jobs_total{otel_metric_overflow="true"}', lambda v: v == KEYS - LIMIT)
            assert overflow == KEYS - LIMIT  # every recording beyond the limit, in one series
            assert query_until(base, 'sum(lookups_total)', lambda v: v == KEYS) == KEYS  # nothing lost
            query_until(base, 'lookups_total{otel_metric_overflow="true"}', lambda v: v == KEYS - LIMIT)
            # Several scrapes since the traffic started, every one of them up. (The scrapes before it
            # are not the subject: Prometheus' own start on a loaded machine can time one out.)
            deadline = time.monotonic() + 60
            ups = _raw(base, f'up{{job="monitoring_layer"}}[{_since(started)}s]')
            while len(ups) < 3 and time.monotonic() < deadline:
                time.sleep(0.25)  # Prometheus' own scrape cycle: nothing in-process to flush
                ups = _raw(base, f'up{{job="monitoring_layer"}}[{_since(started)}s]')
            assert len(ups) >= 3 and all(v == 1 for t, v in ups if t >= started), (ups, failures)

            # What the limit allows: the self-metrics, target_info, one facade and one third-party
            # counter of LIMIT series plus overflow, and urllib's client histograms.
            http_families = {s["__name__"] for s in _series(base, '{__name__=~"http_client_.*_count"}')}
            assert http_families, "urllib's client metrics never reached Prometheus"
            bound = (len(_selfmon.KNOWN_ERROR_KINDS) + len(_selfmon.KNOWN_DROPS) + 1 + 2 * (LIMIT + 1)
                     + len(http_families) * (LIMIT + 1) * HISTOGRAM_SAMPLES)
            assert 10 * bound < URLS * HISTOGRAM_SAMPLES  # one series per URL would be far beyond it
            largest = query_until(base, 'max_over_time(scrape_samples_scraped{job="monitoring_layer"}[10m])',
                                  lambda v: v > 0)
            assert largest <= bound, (largest, bound)
            for family in http_families:
                series = _series(base, family)
                assert not any("http_url" in s or "url_full" in s for s in series), series[:3]
                assert len(series) <= LIMIT + 1, (family, len(series))
    finally:
        instrumentor.uninstrument()
        metrics.close()
