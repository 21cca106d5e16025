"""The integration and the decorators on the REAL facades (process-wide get_*() and flush()).

Each test runs the spec's snippet in a fresh interpreter on this test's home
(the process-wide pipeline fixes its home on first use, so one process per
test is the honest isolation), then checks the values through the spec's
query methods and the JSON files.

These need the metrics, logs and tracing collectors: they fail on
feature/integration alone and pass once those branches are merged.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def _result(proc):
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _load(home, relative):
    return json.loads((home / relative).read_text())


def _series(doc, name, **labels):
    metrics = doc["metrics"]
    metric = metrics.get(name) or metrics.get(name.removesuffix("_total"))
    assert metric is not None, f"{name} not in {sorted(metrics)}"
    return [s for s in metric["series"] if all(s["labels"].get(k) == v for k, v in labels.items())]


def test_pattern_1_complete_platform_integration(run_python, home):
    proc = run_python("""
        import json
        from monitoring_layer import (
            get_metrics_collector,
            get_log_aggregator,
            get_tracing_collector,
            get_monitoring_integration
        )
        import monitoring_layer

        sent = []
        class Producer:
            def send(self, topic, message):
                if message is None:
                    raise ConnectionError("broker down")
                sent.append((topic, message))
        producer = Producer()

        metrics = get_metrics_collector()
        logs = get_log_aggregator()
        traces = get_tracing_collector()
        integration = get_monitoring_integration(metrics, logs, traces)

        integration.register_component("kafka", "streaming")
        integration.register_component("spark", "processing")
        kafka = integration.integrate_kafka_metrics()
        spark = integration.integrate_spark_metrics()

        @integration.monitored_function(component="kafka", operation="publish")
        def publish_message(topic, message):
            producer.send(topic, message)

        publish_message("events", "a")
        publish_message("events", "b")
        try:
            publish_message("events", None)
        except ConnectionError:
            pass
        metrics.increment_counter("kafka_messages_in", 3)
        metrics.increment_counter("kafka_messages_out", 2)
        metrics.set_gauge("kafka_lag", 7)
        metrics.observe_histogram("kafka_processing_time_ms", 12.5)
        labels = {"component": "kafka", "operation": "publish", "status": "success"}
        print(json.dumps({
            "kafka": kafka, "spark": list(spark), "sent": sent,
            "components": integration.get_registered_components(),
            "duration": metrics.get_metric_statistics("operation_duration_ms", labels=labels),
            "processing": metrics.get_metric_statistics("kafka_processing_time_ms", labels={}),
            "kafka_logs": logs.get_logs(component="kafka", limit=100),
            "errors": logs.get_error_summary(),
            "flushed": monitoring_layer.flush(),
        }, default=str))
    """)
    result = _result(proc)
    assert list(result["kafka"]) == ["kafka_messages_in", "kafka_messages_out", "kafka_lag",
                                     "kafka_processing_time_ms"]
    assert result["spark"] == ["spark_jobs_completed", "spark_tasks_completed", "spark_memory_used_mb",
                               "spark_execution_time_ms"]
    assert result["sent"] == [["events", "a"], ["events", "b"]]
    kafka = next(c for c in result["components"] if c["name"] == "kafka")
    assert kafka["type"] == "streaming" and kafka["last_activity"]
    assert result["duration"]["count"] == 2
    assert result["processing"]["count"] == 1 and result["processing"]["sum"] == 12.5
    log_text = json.dumps(result["kafka_logs"])
    assert "[KAFKA] publish - started" in log_text and "[KAFKA] publish - success (" in log_text
    assert "[KAFKA] publish - error (" in log_text
    assert result["errors"].get("ConnectionError", 0) >= 1
    assert result["flushed"] is True

    metrics_doc = _load(home, "metrics/metrics_registry.json")
    assert {"kafka_messages_in", "kafka_messages_out", "kafka_lag", "kafka_processing_time_ms"} <= set(
        metrics_doc["metrics"])
    # a counter's points are its increments; the series' `sum` is its running total
    assert _series(metrics_doc, "kafka_messages_in")[0]["sum"] == 3
    assert _series(metrics_doc, "kafka_lag")[0]["points"][-1]["value"] == 7
    assert metrics_doc["metrics"]["kafka_processing_time_ms"]["unit"] == "ms"
    (ok,) = _series(metrics_doc, "operations_total", component="kafka", operation="publish", status="success")
    assert ok["sum"] == 2
    (failed,) = _series(metrics_doc, "operation_errors_total", error_type="ConnectionError")
    assert failed["sum"] == 1
    spans = [s for t in _load(home, "traces/traces.json")["traces"] for s in t["spans"] if s["name"] == "publish"]
    # the file shows the queries' status words, with OTel's code beside them: SUCCESS leaves OTel's UNSET
    assert sorted((s["status"], s["otel_status_code"]) for s in spans) == [
        ("ERROR", "ERROR"), ("SUCCESS", "UNSET"), ("SUCCESS", "UNSET")]
    records = _load(home, "logs/logs.json")["records"]
    assert any(r["component"] == "kafka" and r["level"] == "ERROR" for r in records)


def test_pattern_2_stacked_decorators(run_python, home):
    proc = run_python("""
        import asyncio, json
        import monitoring_layer
        from monitoring_layer import (
            TrackExecution,
            LogFunction,
            TraceFunction,
            get_metrics_collector,
            get_log_aggregator,
            get_tracing_collector
        )

        metrics = get_metrics_collector()
        logs = get_log_aggregator()
        traces = get_tracing_collector()

        def process_request(request):
            if request == "bad":
                raise ValueError("bad request")
            return {"ok": request}

        @TrackExecution(component="api", metrics_collector=metrics)
        @LogFunction(component="api", log_aggregator=logs)
        @TraceFunction(component="api", tracing_collector=traces)
        def api_handler(request):
            # Fully monitored: metrics + logs + traces
            return process_request(request)

        @TraceFunction(component="api")
        @TrackExecution(component="api")
        async def async_handler(request):
            await asyncio.sleep(0)
            return request

        results = [api_handler("a"), api_handler("b"), asyncio.run(async_handler("c"))]
        try:
            api_handler("bad")
        except ValueError as exc:
            results.append(str(exc))
        ok = {"component": "api", "function": "api_handler", "status": "success"}
        print(json.dumps({
            "results": results,
            "duration": metrics.get_metric_statistics("function_duration_ms", labels=ok),
            "async_duration": metrics.get_metric_statistics(
                "function_duration_ms", labels={**ok, "function": "async_handler"}),
            "logs": logs.get_logs(component="api", limit=100),
            "tracing": traces.get_tracing_statistics(),
            "flushed": monitoring_layer.flush(),
        }, default=str))
    """)
    result = _result(proc)
    assert result["results"] == [{"ok": "a"}, {"ok": "b"}, "c", "bad request"]
    assert result["duration"]["count"] == 2 and result["async_duration"]["count"] == 1
    assert "[API] api_handler - error (" in json.dumps(result["logs"])
    metrics_doc = _load(home, "metrics/metrics_registry.json")
    (calls,) = _series(metrics_doc, "function_calls_total", function="api_handler", status="success")
    assert calls["sum"] == 2
    (errors,) = _series(metrics_doc, "function_errors_total", function="api_handler", error_type="ValueError")
    assert errors["sum"] == 1
    spans = [s for t in _load(home, "traces/traces.json")["traces"] for s in t["spans"]]
    assert sorted(s["name"] for s in spans) == ["api_handler"] * 3 + ["async_handler"]
    assert {s["attributes"].get("code.function.name", "").rsplit(".", 1)[-1] for s in spans} == \
        {"api_handler", "async_handler"}


def test_logs_inside_a_traced_function_carry_its_trace(run_python, home):
    run_python("""
        import monitoring_layer
        from monitoring_layer import LogFunction, TraceFunction

        @TraceFunction(component="worker")
        def outer():
            return inner()

        @LogFunction(component="worker")
        def inner():
            return 1

        outer()
        assert monitoring_layer.flush()
    """)
    traces = _load(home, "traces/traces.json")["traces"]
    (trace,) = [t for t in traces if any(s["name"] == "outer" for s in t["spans"])]
    records = [r for r in _load(home, "logs/logs.json")["records"] if r["component"] == "worker"]
    assert len(records) == 2 and {r["trace_id"] for r in records} == {trace["trace_id"]}


def test_pattern_3_block_level_and_helpers(run_python, home):
    proc = run_python("""
        import json
        import monitoring_layer
        from monitoring_layer import (
            get_monitoring_integration,
            measure_time,
            count_operation,
            retry_with_tracking,
            get_metrics_collector,
        )
        metrics = get_metrics_collector()
        integration = get_monitoring_integration()
        seen = []

        def process_record(record):
            seen.append(record)

        def process_batch(records):
            with integration.create_timer("processor", "batch_processing"):
                with count_operation("processor", "records_processed", metrics):
                    for record in records:
                        process_record(record)

        process_batch([1, 2, 3])
        with measure_time("spark", "job_run", metrics):
            pass
        attempts = []

        @retry_with_tracking(max_retries=3, base_delay=0.001, max_delay=0.002, metrics_collector=metrics)
        def unreliable_operation():
            attempts.append(1)
            if len(attempts) < 3:
                raise TimeoutError("try again")
            return "done"

        print(json.dumps({
            "seen": seen, "retry": unreliable_operation(), "attempts": len(attempts),
            "timer": metrics.get_metric_statistics("operation_duration_ms", labels={
                "component": "processor", "operation": "batch_processing", "status": "success"}),
            "flushed": monitoring_layer.flush(),
        }))
    """)
    result = _result(proc)
    assert result["seen"] == [1, 2, 3] and result["retry"] == "done" and result["attempts"] == 3
    assert result["timer"]["count"] == 1
    doc = _load(home, "metrics/metrics_registry.json")
    (counted,) = _series(doc, "operations_total", operation="records_processed", status="success")
    assert counted["sum"] == 1
    assert _series(doc, "operation_duration_ms", component="spark", operation="job_run", status="success")
    (retries,) = _series(doc, "retry_retries_total", function="unreliable_operation")
    assert retries["sum"] == 2


def test_selftest_passes_for_the_merged_components(run_python):
    proc = run_python("""
        from monitoring_layer.selftest import run_selftest, render
        print("\\n".join(render(run_selftest(["metrics", "logs", "traces", "integration", "decorators"]))))
    """, timeout=300)
    assert proc.stdout.splitlines() == [
        "✓ PASS: Metrics Collection", "✓ PASS: Logging System", "✓ PASS: Tracing System",
        "✓ PASS: Platform Integration", "✓ PASS: Decorators"]
