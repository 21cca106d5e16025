"""Tracing through the process-wide collector, in fresh processes: the spec as written, and
one trace continued across two processes sharing a MONITORING_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest

from monitoring_layer.exporters.schema import load_schema

pytestmark = pytest.mark.integration


def _run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], capture_output=True,
                          text=True, env=dict(os.environ), timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _traces_file(home: Path) -> list[dict]:
    doc = json.loads((home / "traces" / "traces.json").read_text())
    jsonschema.validate(doc, load_schema("traces"))
    return doc["traces"]


SPEC_EXAMPLE = """
    import json
    from concurrent.futures import ThreadPoolExecutor
    import threading

    import monitoring_layer
    from monitoring_layer import get_tracing_collector

    traces = get_tracing_collector()
    assert get_tracing_collector() is traces

    # Start trace
    trace_id = traces.start_trace(
        service="user-service",
        request_id="req_123"
    )

    # Create spans (automatic parent-child relationship)
    auth_span = traces.start_span(
        operation_name="authenticate",
        component="auth-service"
    )

    # Add events and tags
    traces.add_event(auth_span, "user_logged_in", {"user_id": "123"})
    traces.add_tag(auth_span, "user_role", "admin")

    # End span
    traces.end_span(auth_span, "SUCCESS")

    # Automatic propagation in multi-threaded applications
    def worker(item):
        span = traces.start_span(operation_name="process", component="worker")
        # ... processing ...
        traces.end_span(span, "SUCCESS")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(worker, range(8)))
    thread = threading.Thread(target=worker, args=(0,))
    thread.start()
    thread.join()

    # End trace
    traces.end_trace(trace_id)

    # Query traces
    trace = traces.get_trace(trace_id)
    slow_traces = traces.get_slow_traces(duration_threshold_ms=1000)
    error_traces = traces.get_error_traces()

    # Statistics
    stats = traces.get_tracing_statistics()

    # Export
    traces.export_trace(trace_id, "trace.json")
    monitoring_layer.flush()
    print(json.dumps({"trace": trace, "slow": slow_traces, "errors": error_traces, "stats": stats}))
"""


def test_the_spec_as_written(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = json.loads(_run(SPEC_EXAMPLE))
    trace = out["trace"]
    assert trace["service"] == "user-service" and trace["status"] == "SUCCESS"
    names = sorted(s["operation_name"] for s in trace["spans"])
    assert names == ["authenticate"] + ["process"] * 9 + ["user-service"]
    (root,) = trace["tree"]
    assert len(root["children"]) == 10  # every worker span under the trace's root
    assert out["slow"] == [] and out["errors"] == []
    assert out["stats"]["completed_traces"] == 1 and out["stats"]["by_service"]["user-service"]["traces"] == 1
    assert json.loads((tmp_path / "trace.json").read_text())["trace_id"] == trace["trace_id"]

    (written,) = _traces_file(home)
    assert written["trace_id"] == trace["trace_id"] and written["span_count"] == 11
    assert written["complete"] is True and written["service"] == "user-service"


PRODUCER = """
    import json
    import monitoring_layer
    from monitoring_layer import get_tracing_collector

    traces = get_tracing_collector()
    trace_id = traces.start_trace("producer-service", request_id="req_9")
    span = traces.start_span("publish", "kafka")
    headers = {}
    traces.inject(headers)
    traces.end_span(span)
    traces.end_trace(trace_id)
    monitoring_layer.flush()
    print(json.dumps({"trace_id": trace_id, "span_id": span, "headers": headers}))
"""

CONSUMER = """
    import json, sys
    import monitoring_layer
    from monitoring_layer import extract, get_tracing_collector

    traces = get_tracing_collector()
    headers = json.loads(sys.argv[1])
    trace_id = traces.start_trace("consumer-service", context=extract(headers))
    span = traces.start_span("store", "lakehouse")
    traces.end_span(span)
    traces.end_trace(trace_id)
    monitoring_layer.flush()
    print(json.dumps({"trace_id": trace_id}))
"""


def test_one_trace_across_two_processes(home: Path) -> None:
    produced = json.loads(_run(PRODUCER))
    consumed = json.loads(_run(CONSUMER, json.dumps(produced["headers"])))
    assert consumed["trace_id"] == produced["trace_id"]

    (written,) = _traces_file(home)
    assert written["trace_id"] == produced["trace_id"]
    assert written["complete"] is True and written["service"] == "producer-service"
    spans = {s["name"]: s for s in written["spans"]}
    assert set(spans) == {"producer-service", "publish", "consumer-service", "store"}
    assert spans["consumer-service"]["parent_span_id"] == produced["span_id"]
    assert spans["consumer-service"]["service"] == "consumer-service"
    assert spans["store"]["parent_span_id"] == spans["consumer-service"]["span_id"]
