"""Private OTel SDK accesses live in _compat; a fallback that weakens protection is reported."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from prometheus_client.parser import text_string_to_metric_families

from monitoring_layer import _compat, _selfmon, config
from monitoring_layer.logging import LogAggregator
from monitoring_layer.metrics import MetricsCollector
from monitoring_layer.pipeline import Pipeline

ROOT = Path(__file__).resolve().parent.parent
#: getattr of our own private attributes (not OTel's)
OWN_PRIVATE = {"_fast_sync", "_monitoring_record"}


def test_scrub_first_fallback_is_a_fault_at_startup_and_in_self_metrics(monkeypatch, caplog) -> None:
    monkeypatch.setattr(_compat, "_MULTI_ATTR", "_moved_by_a_new_sdk")  # as if the SDK renamed it
    pipeline = Pipeline(config.resolve_settings(overrides={"export_interval_s": 3600}))
    try:
        with caplog.at_level(logging.WARNING, logger="monitoring_layer"):
            logs = LogAggregator(pipeline.logger_provider, settings=pipeline.settings)
        assert _selfmon.counts()["errors"]["compat"] == 1
        assert any("UNREDACTED" in r.getMessage() for r in caplog.records)  # said at startup
        logs.info("api", "password=hunter2")
        assert "hunter2" not in logs.get_logs()[0]["message"]  # what it stores is still scrubbed
        text = MetricsCollector(pipeline=pipeline).export_prometheus_format()
        errors = {s.labels["kind"]: s.value for f in text_string_to_metric_families(text)
                  if f.name == "monitoring_layer_errors" for s in f.samples}
        assert errors["compat"] == 1.0
    finally:
        pipeline.shutdown()


def test_scrub_first_installed_on_the_sdk_in_use() -> None:
    provider = LoggerProvider()
    try:
        LogAggregator(provider)
        assert "compat" not in _selfmon.counts()["errors"]
        assert type(_compat.log_processors(provider)[0]).__name__ == "ScrubbingProcessor"
    finally:
        provider.shutdown()


#: Private attributes of the libraries an instrumentor wraps (not OTel's): pyspark's session of a
#: DataFrameWriter and JavaSparkContext, read to count jobs (docs/instrumentors.md names the upgrade risk).
INSTRUMENTED_LIBRARIES_PRIVATE = frozenset({"_spark", "_jsc"})
#: The bench's lean contender runs as a script that must not import our package (so not ``_compat``):
#: it encodes logs as OTel's own OTLP log exporters do, through this module of theirs.
STANDALONE_SCRIPT_IMPORTS = {"_load.py": {"opentelemetry.exporter.otlp.proto.common._log_encoder"}}


def _private_otel_access(path: Path) -> list[str]:
    found = []
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("opentelemetry"):
            parts = node.module.split(".")
            # opentelemetry._logs / sdk._logs are the logs signal's public (if underscored) modules
            if any(p.startswith("_") and p != "_logs" for p in parts) \
                    and node.module not in STANDALONE_SCRIPT_IMPORTS.get(path.name, ()):
                found.append(f"{path.name}:{node.lineno} imports {node.module}")
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr" and len(node.args) >= 2:
            name = node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and name.value.startswith("_") \
                    and not name.value.startswith("__") and name.value not in OWN_PRIVATE \
                    and name.value not in INSTRUMENTED_LIBRARIES_PRIVATE:
                found.append(f"{path.name}:{node.lineno} getattr {name.value}")
    return found


def test_no_private_otel_access_outside_compat() -> None:
    problems = []
    for folder in (ROOT / "src" / "monitoring_layer", ROOT / "exporters", ROOT / "instrumentors"):
        for path in folder.rglob("*.py"):
            if path.name != "_compat.py":
                problems += _private_otel_access(path)
    assert not problems, "\n".join(problems)


def test_version_is_known() -> None:
    assert _compat.SDK_VERSION >= (1, 0)


def _histogram_points(reader, name):
    data = reader.get_metrics_data()
    points = [p for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
              if m.name == name for p in m.data.data_points]
    return {tuple(sorted(p.attributes.items())): p for p in points}


@pytest.mark.parametrize("views", ["none", "attribute filter", "sum aggregation"])
def test_bulk_histogram_hand_over_equals_one_record_per_value(views) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.metrics.view import SumAggregation, View

    chosen = {"none": [],
              "attribute filter": [View(instrument_name="*", attribute_keys={"route"})],
              "sum aggregation": [View(instrument_name="bulk", aggregation=SumAggregation())]}[views]
    readers = [InMemoryMetricReader(), InMemoryMetricReader()]
    provider = MeterProvider(metric_readers=readers, views=chosen)
    meter = provider.get_meter("t")
    bulk, one_by_one = meter.create_histogram("bulk", unit="ms"), meter.create_histogram("each", unit="ms")
    values = [0.3, 7.0, 7.0, 25.0, 250.0, 1e6, 0.0, 5.0, 10.0]
    for attributes in ({"route": "/a", "code": "200"}, {"route": "/b", "code": "500"}):
        _compat.record_histogram_values(bulk, attributes, values)
        _compat.record_histogram_values(bulk, attributes, values[:1])
        for value in values + values[:1]:
            one_by_one.record(value, attributes)
    try:
        for reader in readers:
            got, want = _histogram_points(reader, "bulk"), _histogram_points(reader, "each")
            assert got.keys() == want.keys() and len(got) == 2
            for key, point in want.items():
                if views == "sum aggregation":
                    assert got[key].value == pytest.approx(sum(values) + values[0])
                    continue
                assert got[key].bucket_counts == point.bucket_counts
                assert (got[key].count, got[key].min, got[key].max) == (point.count, point.min, point.max)
                assert got[key].sum == pytest.approx(point.sum)
    finally:
        provider.shutdown()
    assert "compat" not in _selfmon.counts()["errors"]
