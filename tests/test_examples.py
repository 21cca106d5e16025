"""Every script in examples/ runs in a fresh interpreter and leaves the files it promises."""

import json
import shutil
import sys
from pathlib import Path

import pytest

from monitoring_layer.cli import check_home

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

pytestmark = pytest.mark.integration


def _doc(home, relative):
    return json.loads((home / relative).read_text())


def _series(doc, name, **labels):
    return [s for s in doc["metrics"][name]["series"] if all(s["labels"].get(k) == v for k, v in labels.items())]


SIGNAL_FILES = ["metrics/metrics_registry.json", "logs/logs.json", "traces/traces.json"]


def _all_ok(home):
    """The three signal files are valid; any other documented file (the engines') is valid or absent."""
    report = check_home(home)
    statuses = {f["file"]: f["status"] for f in report["files"]}
    assert [statuses[name] for name in SIGNAL_FILES] == ["ok", "ok", "ok"], report
    assert all(status in ("ok", "absent") for status in statuses.values()), report
    return {f["file"]: f["counts"] for f in report["files"] if f["file"] in SIGNAL_FILES}


def test_every_example_has_a_test():
    tested = {"quickstart.py", "pattern1_platform_integration.py", "pattern2_function_instrumentation.py",
              "pattern3_block_instrumentation.py", "otel_instrument_app.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_quickstart_writes_all_three_files(run_python, home):
    proc = run_python(script=EXAMPLES / "quickstart.py")
    assert f"wrote to {home}" in proc.stdout
    counts = _all_ok(home)
    assert counts["traces/traces.json"] == {"traces": 5, "spans": 10}
    assert counts["logs/logs.json"] == {"records": 5}


def test_pattern_1_platform_integration(run_python, home):
    proc = run_python(script=EXAMPLES / "pattern1_platform_integration.py")
    assert "published 10 messages" in proc.stdout
    _all_ok(home)
    metrics = _doc(home, "metrics/metrics_registry.json")
    assert {"kafka_messages_in", "kafka_messages_out", "kafka_lag", "kafka_processing_time_ms",
            "spark_jobs_completed", "spark_tasks_completed", "spark_memory_used_mb",
            "spark_execution_time_ms"} <= set(metrics["metrics"])
    (published,) = _series(metrics, "operations_total", component="kafka", operation="publish", status="success")
    assert published["sum"] == 10
    assert _series(metrics, "kafka_lag", topic="orders")[0]["points"][-1]["value"] == 3
    (trace,) = _doc(home, "traces/traces.json")["traces"]
    assert trace["service"] == "ingestion-service"
    assert sum(s["name"] == "publish" for s in trace["spans"]) == 10  # all under the one trace
    logs = _doc(home, "logs/logs.json")["records"]
    assert sum("[KAFKA] publish - success" in r["message"] for r in logs) == 10


def test_pattern_2_function_instrumentation(run_python, home):
    proc = run_python(script=EXAMPLES / "pattern2_function_instrumentation.py")
    assert "handled 18 requests, 2 failed" in proc.stdout
    _all_ok(home)
    metrics = _doc(home, "metrics/metrics_registry.json")
    (ok,) = _series(metrics, "function_calls_total", function="api_handler", status="success")
    (failed,) = _series(metrics, "function_errors_total", function="api_handler", error_type="ValueError")
    assert (ok["sum"], failed["sum"]) == (18, 2)
    spans = [s for t in _doc(home, "traces/traces.json")["traces"] for s in t["spans"]]
    assert sorted(s["status"] for s in spans if s["name"] == "api_handler").count("ERROR") == 2
    assert len([s for s in spans if s["name"] == "api_handler"]) == 20
    errors = [r for r in _doc(home, "logs/logs.json")["records"] if r["level"] == "ERROR"]
    assert len(errors) == 2 and all(r["attributes"]["exception.type"] == "ValueError" for r in errors)


def test_pattern_3_block_instrumentation(run_python, home):
    proc = run_python(script=EXAMPLES / "pattern3_block_instrumentation.py")
    assert "processed 5 batches" in proc.stdout
    metrics = _doc(home, "metrics/metrics_registry.json")
    (counted,) = _series(metrics, "operations_total", component="processor", operation="records_processed")
    assert counted["sum"] == 5
    (timed,) = _series(metrics, "operation_duration_ms", component="processor", operation="batch_processing")
    assert timed["count"] == 5


def test_opentelemetry_instrument_example(home, tmp_path):
    import os
    import subprocess

    command = shutil.which("opentelemetry-instrument") or str(Path(sys.executable).parent / "opentelemetry-instrument")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONITORING_"))}
    env.update(MONITORING_HOME=str(home), MONITORING_STRICT="1")
    proc = subprocess.run([command, sys.executable, str(EXAMPLES / "otel_instrument_app.py")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (trace,) = _doc(home, "traces/traces.json")["traces"]
    assert trace["trace_id"] in proc.stdout and trace["service"] == "inventory-sync"
    by_name = {s["name"]: s for s in trace["spans"]}
    client = [s for s in trace["spans"] if s["scope"] == "opentelemetry.instrumentation.urllib"]
    assert len(client) == 3
    assert all(s["parent_span_id"] == by_name["fetch_stock"]["span_id"] for s in client)
