"""Property: no text, however hostile, breaks a flush, a file or the Prometheus exposition (issue 15, item 1).

Every example records through the public API of one isolated pipeline (shared
between examples, as a real process shares it), flushes, and reads everything
back: each file is JSON and valid against its schema (what ``monitoring-layer
check`` reports), the exposition parses, and the query calls answer.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from monitoring_layer.commands.check import check_home
from tests._requires import require
from tests._strategies import FIELD_NAMES, HOSTILE_TEXT, LABEL_NAMES, METRIC_NAMES, fresh_ids

BAD = "report-\udcff.csv"  # os.fsdecode(b"report-\xff.csv")
_RESERVED_FIELDS = {"component", "message", "self"}


def _files_are_valid(home: Path) -> None:
    report = check_home(home)
    for entry in report["files"]:
        assert entry["status"] in ("ok", "absent"), entry
        if entry["status"] == "ok":
            json.loads(Path(entry["path"]).read_bytes())  # strict UTF-8 JSON, as another reader sees it


def _record_everything(metrics, logs, traces, *, text: str, field: str, metric: str, label: str) -> None:
    logs.info(text, text, **{field: text})
    logs.error("loader", f"cannot open {text}", exception=text, path=text)
    name = text or "-"  # service, operation and event names must not be empty (a documented ValueError)
    trace_id = traces.start_trace(service=name)
    span = traces.start_span(operation_name=name, component=name, tags={field: text, "plain": text})
    assert traces.add_event(span, name, {field: text})
    assert traces.add_tag(span, field, text)
    assert traces.end_span(span, "ERROR", error=text)
    assert traces.end_trace(trace_id)
    metrics.increment_counter(metric, labels={label: text})
    metrics.set_gauge(f"{metric}_g", 1.5, labels={label: text})
    metrics.observe_histogram(f"{metric}_h", 2.5, labels={label: text})
    metrics.observe_summary(f"{metric}_s", 3.5, labels={label: text})


_ARGS = dict(text=HOSTILE_TEXT, field=FIELD_NAMES.filter(lambda f: f not in _RESERVED_FIELDS),
             metric=METRIC_NAMES, label=LABEL_NAMES)


@pytest.mark.slow
def test_any_text_keeps_every_file_and_the_exposition_valid(process_wide, tmp_path: Path) -> None:
    from monitoring_layer import (
        get_log_aggregator,
        get_metrics_collector,
        get_observability_dashboard,
        get_tracing_collector,
    )

    metrics, logs, traces = get_metrics_collector(), get_log_aggregator(), get_tracing_collector()
    dashboard = get_observability_dashboard()
    reports = tmp_path / "reports"
    reports.mkdir()
    home = process_wide.settings.home
    serial = itertools.count()

    @given(**_ARGS)
    @example(text=BAD, field=BAD, metric="files_loaded", label="file")
    @example(text="\ud800\udc00\udfff\ud800", field="x", metric="m", label="v")
    @example(text="s\udcff", field="x", metric="m", label="v")  # found: export_trace/export_report raised
    def check(text: str, field: str, metric: str, label: str) -> None:
        # A new metric per example: names colliding with earlier examples' are test_properties_names' subject.
        fresh_ids()
        metric = f"{metric}_{next(serial)}"
        _record_everything(metrics, logs, traces, text=text, field=field, metric=metric, label=label)
        assert process_wide.flush() is True
        _files_are_valid(home)
        exposition = metrics.export_prometheus_format()
        families = {f.name for f in text_string_to_metric_families(exposition)}
        assert metrics.prometheus_name(metric).removesuffix("_total") in families
        json.dumps(logs.get_logs(limit=5))
        json.dumps(logs.search_logs(text, limit=5))
        json.dumps(traces.get_error_traces(limit=5))
        json.dumps(metrics.get_metric_statistics(metric))
        json.dumps(metrics.export_metrics())
        # the export_*(path) reports hold what the stores keep in memory (recorded text, unreplaced)
        trace_id = traces.get_error_traces(limit=1)[0]["trace_id"]
        assert traces.export_trace(trace_id, reports / "trace.json") is True
        dashboard.export_report(reports / "report.json")
        for report in ("trace.json", "report.json"):
            json.loads((reports / report).read_bytes().decode("utf-8"))  # strict UTF-8

    check()


@pytest.mark.integration
def test_promtool_accepts_the_exposition_of_any_label_value(process_wide, tmp_path: Path) -> None:
    """A sample of examples (promtool is a subprocess): the exposition passes ``promtool check metrics``."""
    promtool = require("promtool", "validates the Prometheus exposition")
    from monitoring_layer import get_metrics_collector

    metrics = get_metrics_collector()
    target = tmp_path / "exposition.txt"
    serial = itertools.count()

    @settings(max_examples=8)
    @given(text=HOSTILE_TEXT, metric=METRIC_NAMES, label=LABEL_NAMES)
    @example(text=BAD + '"\\\n', metric="files_loaded", label="file")
    def check(text: str, metric: str, label: str) -> None:
        metric = f"{metric}_{next(serial)}"
        metrics.increment_counter(metric, labels={label: text})
        metrics.observe_summary(f"{metric}_s", 1.0, labels={label: text})
        target.write_bytes(metrics.export_prometheus_format().encode("utf-8"))
        with target.open("rb") as stdin:
            proc = subprocess.run([promtool, "check", "metrics"], stdin=stdin, capture_output=True, text=True,
                                  timeout=60)
        # Lint remarks (a counter without _total, a missing HELP) are exit 3; a parse error is exit 1.
        assert proc.returncode in (0, 3) and "error" not in proc.stderr.lower(), proc.stderr + proc.stdout

    check()
