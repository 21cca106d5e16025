"""One string that cannot be encoded (a lone surrogate) never blocks a file or a scrape."""

from __future__ import annotations

import json
import os
from pathlib import Path

from monitoring_layer._safe import safe_text

BAD = os.fsdecode(b"report-\xff.csv")  # what a non-UTF-8 file name decodes to: 'report-\udcff.csv'


def test_safe_text_replaces_lone_surrogates_and_keeps_the_rest() -> None:
    assert safe_text("plain") == "plain"
    assert safe_text("café") == "café"
    assert safe_text(BAD) == "report-\ufffd.csv"
    assert safe_text("\ud83d\ude00") == "\U0001F600"  # a valid pair becomes its character


def test_a_lone_surrogate_in_a_label_keeps_the_exposition_valid(process_wide) -> None:
    from monitoring_layer import get_metrics_collector

    metrics = get_metrics_collector()
    metrics.increment_counter("files_loaded", labels={"file": BAD})
    text = metrics.export_prometheus_format()
    assert 'file="report-\ufffd.csv"' in text
    assert process_wide.flush()
    doc = json.loads((process_wide.settings.home / "metrics/metrics_registry.json").read_text())
    assert doc["metrics"]["files_loaded"]["series"][0]["labels"] == {"file": "report-\ufffd.csv"}


def test_a_lone_surrogate_in_logs_and_spans_does_not_block_their_files(process_wide, monkeypatch) -> None:
    from monitoring_layer import _selfmon, config, get_log_aggregator, get_tracing_collector

    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()
    logs = get_log_aggregator()
    traces = get_tracing_collector()
    logs.error("loader", f"cannot open {BAD}", path=BAD)
    trace_id = traces.start_trace(service="loader")
    span = traces.start_span(operation_name=f"open {BAD}", component="loader")
    traces.add_tag(span, "file", BAD)
    traces.end_span(span, "ERROR")
    traces.end_trace(trace_id)
    assert process_wide.flush() is True
    home: Path = process_wide.settings.home
    record = json.loads((home / "logs/logs.json").read_text())["records"][0]
    assert record["message"] == "cannot open report-\ufffd.csv"
    spans = json.loads((home / "traces/traces.json").read_text())["traces"][0]["spans"]
    assert any(s.get("tags", s.get("attributes", {})).get("file") == "report-\ufffd.csv" for s in spans), spans
    assert _selfmon.counts()["errors"].get("encode", 0) >= 1
    logs.info("loader", "the next record")
    assert process_wide.flush() is True  # written once, never retried forever
