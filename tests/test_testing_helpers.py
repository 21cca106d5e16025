"""monitoring_layer.testing: what users' own tests get."""

from __future__ import annotations

from pathlib import Path

import monitoring_layer
from monitoring_layer import testing
from monitoring_layer.pipeline import _PIPELINE
from monitoring_layer.testing import monitoring_pipeline, monitoring_reset  # noqa: F401 - fixtures


def test_isolated_pipeline_is_process_wide_and_restored(tmp_path: Path) -> None:
    assert _PIPELINE.peek() is None
    with testing.isolated_pipeline(tmp_path / "h", metrics_max_points=5) as pipeline:
        assert monitoring_layer.get_pipeline() is pipeline and pipeline.settings.metrics_max_points == 5
        monitoring_layer.get_metrics_collector().increment_counter("jobs", 2)
        monitoring_layer.flush()
        assert [r.value for r in pipeline.readings.latest() if r.name == "jobs"] == [2.0]
        assert (tmp_path / "h" / "metrics" / "metrics_registry.json").exists()
    assert _PIPELINE.peek() is None and pipeline.stopped


def test_fixture_from_the_plugin(monitoring_pipeline, monitoring_reset) -> None:  # type: ignore[no-untyped-def]
    assert monitoring_layer.get_pipeline() is monitoring_pipeline
    monitoring_layer.get_log_aggregator().info("api", "hello")
    assert monitoring_layer.get_log_aggregator().get_logs()[0]["message"] == "hello"


def test_reset_forgets_configure() -> None:
    monitoring_layer.configure(logs_max_records=7)
    assert monitoring_layer.get_settings().logs_max_records == 7
    testing.reset()
    assert monitoring_layer.get_settings().logs_max_records != 7
