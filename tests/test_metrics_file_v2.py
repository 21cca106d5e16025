"""The metrics file has one meaning per type (schema 2), and older files are migrated on read."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema

from monitoring_layer.exporters import load_schema
from monitoring_layer.exporters.metrics import migrate_metrics_document
from monitoring_layer.metrics import MetricsCollector
from monitoring_layer.pipeline import Pipeline


def _doc(home: Path) -> dict:
    return json.loads((home / "metrics" / "metrics_registry.json").read_text())


def test_facade_and_otel_counters_mean_the_same(pipeline: Pipeline, home: Path) -> None:
    metrics = MetricsCollector(pipeline=pipeline)
    otel = pipeline.meter_provider.get_meter("third.party").create_counter("otel_jobs")
    for _ in range(3):
        metrics.increment_counter("facade_jobs", 2)
        otel.add(2)
        pipeline.flush()
    doc = _doc(home)
    assert doc["schema_version"] == 2
    jsonschema.validate(doc, load_schema("metrics"))
    for name in ("facade_jobs", "otel_jobs"):
        entry = doc["metrics"][name]
        assert entry["type"] == "counter"
        points = entry["series"][0]["points"]
        assert [p["value"] for p in points] == [2, 4, 6], name  # cumulative in both
        assert [p["increment"] for p in points] == [2, 2, 2], name
    assert doc["metrics"]["facade_jobs"]["statistics"]["sum"] == 6  # over the increments


def test_schema_1_file_is_migrated_on_read(pipeline: Pipeline, home: Path) -> None:
    (home / "metrics").mkdir(parents=True, exist_ok=True, mode=0o700)
    old = {"schema_version": 1, "kind": "metrics", "metrics": {
        "facade_jobs": {"type": "counter", "description": "", "unit": "", "prometheus_name": "facade_jobs_total",
                        "series": [{"labels": {}, "source": "old/1", "count": 3, "sum": 6, "points": [
                            {"time": "2026-11-28T08:00:00.000000Z", "time_unix_nano": 10**18 * 2, "value": 2},
                            {"time": "2026-11-28T08:00:01.000000Z", "time_unix_nano": 10**18 * 2 + 1, "value": 4}]}],
                        "statistics": {"count": 2, "sum": 6, "mean": 3, "min": 2, "max": 4, "p50": 3, "p95": 3.9,
                                       "p99": 3.98, "total_count": 3, "total_sum": 6, "total": 6, "series": 1}},
        "otel_jobs": {"type": "counter", "description": "", "unit": "", "series": [
            {"labels": {}, "source": "old/1", "points": [
                {"time": "2026-11-28T08:00:00.000000Z", "time_unix_nano": 10**18 * 2, "value": 2},
                {"time": "2026-11-28T08:00:01.000000Z", "time_unix_nano": 10**18 * 2 + 1, "value": 5}]}]}}}
    path = home / "metrics" / "metrics_registry.json"
    path.write_text(json.dumps(old))
    os.chmod(path, 0o600)
    pipeline.meter_provider.get_meter("t").create_counter("new_jobs").add(1)
    pipeline.flush()
    doc = _doc(home)
    assert doc["schema_version"] == 2
    facade_points = doc["metrics"]["facade_jobs"]["series"][0]["points"]
    assert [(p["value"], p["increment"]) for p in facade_points] == [(2, 2), (6, 4)]
    otel_points = doc["metrics"]["otel_jobs"]["series"][0]["points"]
    assert [(p["value"], p["increment"]) for p in otel_points] == [(2, 2), (5, 3)]
    jsonschema.validate(doc, load_schema("metrics"))


def test_migration_leaves_other_types_alone() -> None:
    doc = {"schema_version": 1, "kind": "metrics", "metrics": {"g": {
        "type": "gauge", "description": "", "unit": "", "series": [
            {"labels": {}, "source": "s/1", "points": [{"time": "t", "time_unix_nano": 1, "value": 3}]}]}}}
    migrated = migrate_metrics_document(json.loads(json.dumps(doc)))
    assert migrated["schema_version"] == 2
    assert migrated["metrics"]["g"]["series"] == doc["metrics"]["g"]["series"]
