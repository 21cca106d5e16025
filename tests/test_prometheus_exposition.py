"""Regression tests for the Prometheus exposition: always one family per name, valid for promtool."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitoring_layer import _selfmon, config
from monitoring_layer.metrics import MetricsCollector
from monitoring_layer.pipeline import Pipeline

from _requires import require


def _promtool_ok(text: str) -> None:
    promtool = require("promtool", "Debian package 'prometheus' provides promtool")
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr + "\n" + text


def _help_lines(text: str) -> list[str]:
    return [line.split()[2] for line in text.splitlines() if line.startswith("# HELP ")]


@pytest.fixture
def metrics(pipeline: Pipeline) -> Iterator[MetricsCollector]:
    collector = MetricsCollector(pipeline=pipeline)
    yield collector
    collector.close()


def test_flush_does_not_duplicate_families(pipeline: Pipeline, metrics: MetricsCollector) -> None:
    metrics.increment_counter("app_requests")
    pipeline.flush()
    pipeline.flush()
    pipeline.meter_provider.force_flush()  # anyone's force_flush: still no queued copy
    text = metrics.export_prometheus_format()
    helps = _help_lines(text)
    assert helps.count("app_requests_total") == 1 and helps.count("target_info") == 1
    assert helps.count("monitoring_layer_errors_total") == 1
    assert len(helps) == len(set(helps))
    _promtool_ok(text)
    served = generate_latest(pipeline.prometheus_registry).decode()  # what /metrics serves
    assert len(_help_lines(served)) == len(set(_help_lines(served)))
    _promtool_ok(served)


def test_valid_after_retention_drops(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = config.resolve_settings(overrides={"export_interval_s": 3600, "metrics_max_points": 5})
    pipeline = Pipeline(settings)
    try:
        metrics = MetricsCollector(pipeline=pipeline)
        metrics.register_metric("size", "summary", "Sizes", "MB")
        for round_ in range(3):
            for i in range(20):
                metrics.observe_summary("size", float(i), labels={"round": str(round_ % 2)})
                metrics.increment_counter("jobs")
            pipeline.flush()
        text = metrics.export_prometheus_format()
        assert _selfmon.counts()["dropped"][("metrics", "retention_count")] > 0
        families = {f.name: f for f in text_string_to_metric_families(text)}
        drops = [s for s in families["monitoring_layer_dropped"].samples
                 if s.labels["reason"] == "retention_count" and s.labels["signal"] == "metrics"]
        assert len(drops) == 1 and drops[0].value > 0
        _promtool_ok(text)
    finally:
        pipeline.shutdown()


def test_same_name_with_two_descriptions_is_merged(pipeline: Pipeline, metrics: MetricsCollector) -> None:
    requests_meter = pipeline.meter_provider.get_meter("opentelemetry.instrumentation.requests")
    urllib_meter = pipeline.meter_provider.get_meter("opentelemetry.instrumentation.urllib")
    first = requests_meter.create_histogram("http.client.duration", unit="s",
                                            description="measures the duration of the outbound HTTP request")
    second = urllib_meter.create_histogram("http.client.duration", unit="s",
                                           description="Measures the duration of outbound HTTP requests.")
    first.record(0.5, {"http.method": "GET"})
    second.record(0.7, {"http.method": "GET"})
    pipeline.flush()
    for _scrape in range(2):
        text = metrics.export_prometheus_format()
        _promtool_ok(text)
    family = {f.name: f for f in text_string_to_metric_families(text)}["http_client_duration_seconds"]
    assert family.documentation == "measures the duration of the outbound HTTP request"
    scopes = {s.labels["otel_scope_name"] for s in family.samples}
    assert scopes == {"opentelemetry.instrumentation.requests", "opentelemetry.instrumentation.urllib"}
    assert _selfmon.counts()["errors"]["metric_conflict"] == 1  # once per name, not per scrape


def test_self_metrics_exported_at_zero_from_start(metrics: MetricsCollector) -> None:
    families = {f.name: f for f in text_string_to_metric_families(metrics.export_prometheus_format())}
    kinds = {s.labels["kind"]: s.value for s in families["monitoring_layer_errors"].samples
             if s.name == "monitoring_layer_errors_total"}
    assert kinds == {kind: 0.0 for kind in _selfmon.KNOWN_ERROR_KINDS}
    drops = {(s.labels["signal"], s.labels["reason"]): s.value for s in families["monitoring_layer_dropped"].samples
             if s.name == "monitoring_layer_dropped_total"}
    assert drops == {key: 0.0 for key in _selfmon.KNOWN_DROPS}
