"""Metrics collector exports: Prometheus text (names, types, promtool) and the JSON file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitoring_layer import MetricsCollector, _selfmon, config
from monitoring_layer.exporters import load_schema, validate


@pytest.fixture
def metrics(pipeline):
    collector = MetricsCollector(pipeline=pipeline)
    yield collector
    collector.close()


def _families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def _record_spec_metrics(metrics) -> None:
    metrics.register_metric("request_latency", "histogram", "Request latency", "ms")
    metrics.register_metric("response_size", "summary", "Response size", "MB")
    metrics.increment_counter("request_count", labels={"method": "GET"})
    metrics.increment_counter("request_count", 2, labels={"method": "GET"})
    metrics.set_gauge("active_connections", 42, labels={"service": "api"})
    for value in (5, 20, 123.45, 900):
        metrics.observe_histogram("request_latency", value, labels={"route": "/a"})
    for value in range(1, 101):
        metrics.observe_summary("response_size", value / 100)


def test_prometheus_names_follow_the_documented_mapping(metrics):
    _record_spec_metrics(metrics)
    assert metrics.prometheus_name("request_count") == "request_count_total"
    assert metrics.prometheus_name("request_latency") == "request_latency_seconds"
    assert metrics.prometheus_name("response_size") == "response_size_bytes"
    assert metrics.prometheus_name("active_connections") == "active_connections"
    text = metrics.export_prometheus_format()
    assert "# TYPE request_count_total counter" in text
    assert "# TYPE request_latency_seconds histogram" in text
    assert "# TYPE response_size_bytes summary" in text
    assert "# TYPE active_connections gauge" in text
    for name in metrics.metric_names():
        assert metrics.export_metrics()["metrics"][name]["prometheus_name"] == metrics.prometheus_name(name)


def test_prometheus_values_types_buckets_and_summary_quantiles(metrics):
    _record_spec_metrics(metrics)
    families = _families(metrics.export_prometheus_format())
    counter = families["request_count"]  # the parser strips _total from the family name
    assert counter.type == "counter"
    assert [(s.labels["method"], s.value) for s in counter.samples if s.name == "request_count_total"] == [("GET", 3.0)]
    gauge = families["active_connections"]
    assert gauge.type == "gauge" and gauge.samples[0].value == 42.0

    histogram = families["request_latency_seconds"]
    assert histogram.type == "histogram"
    samples = {(s.name, s.labels.get("le")): s.value for s in histogram.samples}
    assert samples[("request_latency_seconds_count", None)] == 4
    assert samples[("request_latency_seconds_sum", None)] == pytest.approx(1.04845)  # ms shown as seconds
    assert samples[("request_latency_seconds_bucket", "0.01")] == 1
    assert samples[("request_latency_seconds_bucket", "0.25")] == 3
    assert samples[("request_latency_seconds_bucket", "+Inf")] == 4
    assert all(s.labels["route"] == "/a" for s in histogram.samples)

    summary = families["response_size_bytes"]
    assert summary.type == "summary"
    by_quantile = {s.labels.get("quantile"): s.value for s in summary.samples if s.name == "response_size_bytes"}
    assert by_quantile == pytest.approx({"0.5": 505_000.0, "0.95": 950_500.0, "0.99": 990_100.0})
    sums = {s.name: s.value for s in summary.samples if "quantile" not in s.labels}
    assert sums["response_size_bytes_count"] == 100
    assert sums["response_size_bytes_sum"] == pytest.approx(50.5 * 1_000_000)
    # The summary's OTel histogram is not shown beside it.
    assert "response_size_bytes_bucket" not in metrics.export_prometheus_format()


def test_self_metrics_are_exposed_with_total_suffix(metrics, monkeypatch):
    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()
    metrics.increment_counter("jobs", -1)
    _selfmon.dropped("metrics", "retention_count", 2)
    families = _families(metrics.export_prometheus_format())
    errors = families["monitoring_layer_errors"]
    assert errors.type == "counter"
    assert [(s.name, s.labels["kind"], s.value) for s in errors.samples if s.value] == [
        ("monitoring_layer_errors_total", "metric_value", 1.0)]
    dropped = families["monitoring_layer_dropped"]
    assert [(s.name, s.labels["reason"], s.value) for s in dropped.samples if s.value] == [
        ("monitoring_layer_dropped_total", "retention_count", 2.0)]


def test_internal_drain_instrument_is_not_exposed(metrics):
    _record_spec_metrics(metrics)
    assert "monitoring_layer_metrics_drain" not in metrics.export_prometheus_format()


def _promtool():
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing (Debian package 'prometheus') and CI=true")
        pytest.skip("promtool not installed (Debian package 'prometheus')")
    return path


def test_exposition_passes_promtool_check_metrics(metrics, monkeypatch):
    promtool = _promtool()
    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()
    _record_spec_metrics(metrics)
    metrics.increment_counter("request_count", -5)  # a self-metric appears too
    for i in range(5):
        metrics.set_gauge("memory_used", i, labels={"host": f"h{i}"})
    text = metrics.export_prometheus_format()
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bare_meter_provider_gets_its_own_prometheus_registry():
    from opentelemetry.sdk.metrics import MeterProvider

    provider = MeterProvider()
    metrics = MetricsCollector(provider)
    try:
        metrics.increment_counter("jobs", 4)
        metrics.observe_summary("duration", 1)
        families = _families(metrics.export_prometheus_format())
        assert families["jobs"].samples[0].value == 4
        assert families["duration"].type == "summary"
    finally:
        metrics.close()
        provider.shutdown()


# --------------------------------------------------------------------------- JSON


def test_file_and_export_metrics_have_the_same_content_and_validate(metrics, pipeline, home):
    _record_spec_metrics(metrics)
    assert pipeline.flush()
    path = home / "metrics" / "metrics_registry.json"
    document = json.loads(path.read_text())
    schema = load_schema("metrics")
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(document, schema)
    assert validate(document, schema) == []  # the dependency-free validator of `monitoring-layer check`
    exported = metrics.export_metrics()
    jsonschema.validate(json.loads(json.dumps(exported)), schema)

    facade_names = set(metrics.metric_names())
    assert facade_names <= set(document["metrics"])
    for name in facade_names:
        in_file, in_export = document["metrics"][name], exported["metrics"][name]
        assert in_file == json.loads(json.dumps(in_export)), name

    latency = document["metrics"]["request_latency"]
    assert latency["type"] == "histogram" and latency["unit"] == "ms"
    assert latency["statistics"]["count"] == 4 and latency["statistics"]["max"] == 900
    series = latency["series"][0]
    assert series["labels"] == {"route": "/a"} and series["count"] == 4
    assert [p["value"] for p in series["points"]] == [5, 20, 123.45, 900]
    assert all(p["time"].endswith("Z") and p["time_unix_nano"] > 0 for p in series["points"])
    assert document["metrics"]["request_count"]["statistics"]["total"] == 3
    assert document["metrics"]["active_connections"]["series"][0]["value"] == 42


def test_file_keeps_other_processes_series(metrics, pipeline, home):
    metrics.increment_counter("jobs", 2)
    assert pipeline.flush()
    path = home / "metrics" / "metrics_registry.json"
    document = json.loads(path.read_text())
    foreign = dict(document["metrics"]["jobs"]["series"][0], source="other/1", sum=5, count=1)
    document["metrics"]["jobs"]["series"].append(foreign)
    path.write_text(json.dumps(document))
    metrics.increment_counter("jobs", 1)
    assert pipeline.flush()
    entry = json.loads(path.read_text())["metrics"]["jobs"]
    assert sorted(s["source"] for s in entry["series"])[0] == "other/1"
    assert entry["statistics"]["total"] == 8  # 3 here + 5 there
    jsonschema.validate(json.loads(path.read_text()), load_schema("metrics"))


def test_names_that_spell_their_unit_are_shown_with_the_base_unit(metrics):
    promtool = _promtool()
    metrics.register_metric("kafka_processing_time_ms", "histogram", "Processing duration", "ms")
    metrics.register_metric("spark_memory_used_mb", "gauge", "Memory usage", "MB")
    metrics.register_metric("lakehouse_data_size_gb", "gauge", "Data volume", "GB")
    metrics.register_metric("job_duration_ms", "summary", "Job duration", "ms")
    metrics.observe_histogram("kafka_processing_time_ms", 12)
    metrics.set_gauge("spark_memory_used_mb", 512)
    metrics.set_gauge("lakehouse_data_size_gb", 2)
    metrics.observe_summary("job_duration_ms", 1500)
    assert metrics.prometheus_name("kafka_processing_time_ms") == "kafka_processing_time_seconds"
    assert metrics.prometheus_name("spark_memory_used_mb") == "spark_memory_used_bytes"
    text = metrics.export_prometheus_format()
    families = _families(text)
    assert families["kafka_processing_time_seconds"].type == "histogram"
    samples = {s.name: s.value for s in families["kafka_processing_time_seconds"].samples if "le" not in s.labels}
    assert samples == {"kafka_processing_time_seconds_count": 1.0, "kafka_processing_time_seconds_sum": 0.012}
    assert families["spark_memory_used_bytes"].samples[0].value == 512e6
    assert families["lakehouse_data_size_bytes"].samples[0].value == 2e9
    assert families["job_duration_seconds"].type == "summary"
    assert "_ms_" not in text and "_mb_" not in text and "_gb_" not in text
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_registered_metric_without_points_is_in_the_file_too(metrics, pipeline, home):
    metrics.register_metric("request_latency", "histogram", "Request latency", "ms")
    assert pipeline.flush()
    document = json.loads((home / "metrics" / "metrics_registry.json").read_text())
    assert document["metrics"]["request_latency"] == metrics.export_metrics()["metrics"]["request_latency"]
    assert document["metrics"]["request_latency"]["series"] == []
    jsonschema.validate(document, load_schema("metrics"))


def test_the_file_is_rewritten_only_when_the_metrics_changed(metrics, pipeline, home):
    path = home / "metrics" / "metrics_registry.json"
    metrics.increment_counter("jobs")
    assert pipeline.flush()
    first = path.stat().st_ino
    assert pipeline.flush()
    assert path.stat().st_ino == first  # nothing new: no rewrite (writes go to a new file, renamed)
    metrics.increment_counter("jobs")
    assert pipeline.flush()
    assert path.stat().st_ino != first
    assert json.loads(path.read_text())["metrics"]["jobs"]["statistics"]["total"] == 2
