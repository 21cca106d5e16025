"""``monitoring-layer selftest``: check each of the spec's eight areas end to end.

Each area runs in a fresh interpreter (``python -m monitoring_layer.selftest
AREA``) on its own new ``MONITORING_HOME`` inside one temporary folder, with
strict mode on, no ``OTEL_*``/``MONITORING_*`` variables of the caller and a
one-hour export interval (so files are written by ``flush()`` only). A fresh
process is the only honest isolation: the process-wide pipeline fixes its
settings and providers on first use. Each check uses the real component
through the public API, then verifies the outcome through its query methods
and in the JSON files it wrote.

The report uses the spec's lines::

    ✓ PASS: Metrics Collection
    ✗ FAIL: Health Checks — not implemented

An area whose component does not exist (its ``get_*`` name is missing from
``monitoring_layer``) fails with "not implemented", never passes. The exit
status is 1 when any area failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

__all__ = ["AREAS", "render", "run_selftest"]

#: (area key, the spec's title), in the spec's order.
AREAS: tuple[tuple[str, str], ...] = (
    ("metrics", "Metrics Collection"),
    ("logs", "Logging System"),
    ("traces", "Tracing System"),
    ("health", "Health Checks"),
    ("alerts", "Alert System"),
    ("dashboard", "Dashboard"),
    ("integration", "Platform Integration"),
    ("decorators", "Decorators"),
)
_TITLES = dict(AREAS)


class NotImplementedArea(Exception):
    """The component an area needs does not exist in this build."""


# --------------------------------------------------------------------------- parent side


def run_selftest(areas: Sequence[str] | None = None, *, timeout_s: float = 120.0, workers: int = 2,
                 on_result: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run the checks, each in its own interpreter and home; ``[{area, title, ok, reason}]`` in order.

    ``on_result(result)`` is called for each area as soon as it and the areas before it finished,
    so a caller can print the report line by line in the spec's order.
    """
    keys = list(areas) if areas is not None else [key for key, _ in AREAS]
    unknown = [key for key in keys if key not in _TITLES]
    if unknown:
        raise ValueError(f"unknown selftest area {unknown[0]!r}; areas: {', '.join(_TITLES)}")
    with tempfile.TemporaryDirectory(prefix="monitoring-selftest-") as tmp:
        results = []
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            # map() yields in order, each as soon as it is done: the report streams.
            for result in pool.map(lambda key: _run_area(key, Path(tmp) / key, timeout_s), keys):
                results.append(result)
                if on_result is not None:
                    on_result(result)
        return results


def _run_area(key: str, home: Path, timeout_s: float) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONITORING_"))}
    env.update(MONITORING_HOME=str(home), MONITORING_STRICT="1", MONITORING_EXPORT_INTERVAL="3600",
               PYTHONIOENCODING="utf-8")
    result = {"area": key, "title": _TITLES[key], "ok": False, "reason": ""}
    try:
        proc = subprocess.run([sys.executable, "-m", "monitoring_layer.selftest", key], env=env,
                              capture_output=True, text=True, timeout=timeout_s, encoding="utf-8")
    except subprocess.TimeoutExpired:
        result["reason"] = f"timed out after {timeout_s:g}s"
        return result
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            try:
                verdict = json.loads(line)
            except ValueError:
                continue
            result.update(ok=bool(verdict.get("ok")), reason=str(verdict.get("reason", "")))
            return result
    tail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
    result["reason"] = f"the check crashed: {tail}"
    return result


def render(results: Sequence[dict[str, Any]]) -> list[str]:
    """The report lines, one per area."""
    return [f"✓ PASS: {r['title']}" if r["ok"] else f"✗ FAIL: {r['title']} — {r['reason'] or 'failed'}"
            for r in results]


def print_report(results: Sequence[dict[str, Any]], stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    for line in render(results):
        try:
            print(line, file=stream)
        except UnicodeEncodeError:  # a terminal that cannot show ✓/✗/—
            print(line.replace("✓", "+").replace("✗", "x").replace("—", "-"), file=stream)
    stream.flush()  # each line as its area finishes, also through a pipe


# --------------------------------------------------------------------------- child side


def _need(*names: str) -> list[Any]:
    """The named public functions, or ``NotImplementedArea`` naming the first that is missing."""
    import monitoring_layer

    found = []
    for name in names:
        value = getattr(monitoring_layer, name, None)
        if value is None:
            raise NotImplementedArea(f"not implemented (monitoring_layer.{name} does not exist)")
        found.append(value)
    return found


def _check(condition: Any, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _home() -> Path:
    from monitoring_layer.config import get_settings

    return get_settings().home


def _load(relative: str) -> dict[str, Any]:
    import monitoring_layer

    _check(monitoring_layer.flush(), "monitoring_layer.flush() did not finish")
    path = _home() / relative
    _check(path.is_file(), f"{relative} was not written")
    return json.loads(path.read_text())


def _file_metric(doc: dict[str, Any], name: str) -> dict[str, Any]:
    metrics = doc.get("metrics", {})
    for candidate in (name, name.removesuffix("_total")):
        if candidate in metrics:
            return metrics[candidate]
    raise AssertionError(f"metric {name} is not in metrics/metrics_registry.json (has {sorted(metrics)[:10]})")


def _file_series(metric: dict[str, Any], **labels: str) -> dict[str, Any]:
    """The series with these labels. Its ``count``/``sum`` are running totals (a counter's ``sum`` is
    its value); its ``points`` are the recorded values (a counter's increments, a gauge's settings)."""
    for series in metric["series"]:
        if all(series.get("labels", {}).get(k) == v for k, v in labels.items()) and series["points"]:
            return series
    raise AssertionError(f"no series with labels {labels} in the metrics file")


def _stat(stats: Any, key: str) -> Any:
    _check(isinstance(stats, dict), f"get_metric_statistics returned {stats!r}")
    return stats.get(key)


def _mentions(records: Any, text: str) -> bool:
    return any(text in json.dumps(r, default=str) for r in (records or []))


def check_metrics() -> str:
    (get_metrics_collector,) = _need("get_metrics_collector")
    metrics = get_metrics_collector()
    metrics.register_metric("selftest_requests", "counter", description="selftest requests")
    metrics.register_metric("selftest_latency_ms", "histogram", description="selftest latency", unit="ms")
    metrics.register_metric("selftest_active", "gauge", description="selftest gauge")
    for _ in range(3):
        metrics.increment_counter("selftest_requests", labels={"method": "GET"})
    metrics.set_gauge("selftest_active", 42, labels={"service": "selftest"})
    for value in (10.0, 20.0, 30.0):
        metrics.observe_histogram("selftest_latency_ms", value)
    stats = metrics.get_metric_statistics("selftest_latency_ms", labels={})
    _check(_stat(stats, "count") == 3 and _stat(stats, "sum") == 60 and _stat(stats, "min") == 10
           and _stat(stats, "max") == 30, f"histogram statistics are wrong: {stats}")
    text = metrics.export_prometheus_format()
    _check(metrics.prometheus_name("selftest_requests") in text
           and metrics.prometheus_name("selftest_latency_ms") in text,
           "export_prometheus_format() lacks the selftest metrics")
    doc = _load("metrics/metrics_registry.json")
    histogram = _file_series(_file_metric(doc, "selftest_latency_ms"))
    _check(histogram.get("count") == 3 and histogram.get("sum") == 60,
           f"histogram series in the file is {histogram}")
    counter = _file_series(_file_metric(doc, "selftest_requests"), method="GET")
    _check(counter.get("sum") == 3, f"counter series in the file is {counter}")
    gauge = _file_series(_file_metric(doc, "selftest_active"), service="selftest")
    _check(gauge["points"][-1].get("value") == 42, f"gauge series in the file is {gauge}")
    return "3 metric types recorded, queried and written"


def check_logs() -> str:
    (get_log_aggregator,) = _need("get_log_aggregator")
    logs = get_log_aggregator()
    logs.info("selftest", "selftest info record", trace_id="trace_selftest")
    logs.error("selftest", "selftest failure record", exception="TimeoutError")
    got = logs.get_logs(component="selftest", level="INFO", limit=100)
    _check(_mentions(got, "selftest info record"), f"get_logs(component='selftest', level='INFO') returned {got}")
    _check(_mentions(logs.search_logs("failure", component="selftest"), "selftest failure record"),
           "search_logs('failure') did not find the error record")
    summary = logs.get_error_summary()
    _check(isinstance(summary, dict) and summary.get("TimeoutError", 0) >= 1,
           f"get_error_summary() is {summary}")
    records = _load("logs/logs.json")["records"]
    messages = {(r.get("component"), r.get("level"), r.get("message")) for r in records}
    _check(("selftest", "INFO", "selftest info record") in messages
           and ("selftest", "ERROR", "selftest failure record") in messages,
           f"logs/logs.json lacks the selftest records (has {len(records)} records)")
    return "records logged, queried and written"


def check_traces() -> str:
    (get_tracing_collector,) = _need("get_tracing_collector")
    traces = get_tracing_collector()
    trace_id = traces.start_trace(service="selftest-service", request_id="req_selftest")
    span = traces.start_span(operation_name="selftest-authenticate", component="selftest")
    traces.add_event(span, "user_logged_in", {"user_id": "123"})
    traces.add_tag(span, "user_role", "admin")
    traces.end_span(span, "SUCCESS")
    traces.end_trace(trace_id)
    trace = traces.get_trace(trace_id)
    _check(trace is not None and _mentions([trace], "selftest-authenticate"),
           f"get_trace({trace_id!r}) is {trace}")
    stats = traces.get_tracing_statistics()
    _check(isinstance(stats, dict) and stats, f"get_tracing_statistics() is {stats}")
    written = [t for t in _load("traces/traces.json")["traces"] if t["trace_id"] == str(trace_id)]
    _check(written, f"trace {trace_id} is not in traces/traces.json")
    spans = {s["name"]: s for s in written[0]["spans"]}
    _check("selftest-authenticate" in spans and spans["selftest-authenticate"]["parent_span_id"],
           f"the span is missing or has no parent in traces/traces.json: {sorted(spans)}")
    return "trace and child span recorded, queried and written"


def _absent(getter: str) -> str:
    _need(getter)
    raise AssertionError(f"monitoring_layer.{getter} exists but the selftest has no check for it yet")


def check_health() -> str:
    import sqlite3
    import urllib.error
    import urllib.request

    from monitoring_layer.exporters import load_schema, validate

    get_health_check_manager, serve_health, create_storage_check, create_database_check = _need(
        "get_health_check_manager", "serve_health", "create_storage_check", "create_database_check")
    health = get_health_check_manager()
    data = _home() / "selftest-data"
    data.mkdir(mode=0o700)
    sqlite3.connect(data / "app.db").close()
    health.register_check("storage", "data_folder", create_storage_check(str(data)))
    health.register_check("database", "app_db", create_database_check(f"sqlite:///{data / 'app.db'}"))
    health.register_check("api", "self", lambda: {"status": "healthy", "observed_value": 1, "observed_unit": "x"},
                          probe="liveness")
    health.register_check("broker", "ping", lambda: False, critical=True)
    health.register_dependency("api", ["broker", "database"])
    results = health.run_all_checks()
    got = {(c, n): r["status"] for c, checks in results.items() for n, r in checks.items()}
    _check(got == {("storage", "data_folder"): "healthy", ("database", "app_db"): "healthy",
                   ("api", "self"): "healthy", ("broker", "ping"): "unhealthy"}, f"run_all_checks() gave {got}")
    api = health.get_component_status("api")
    _check(api["status"] == "degraded" and "broker" in api["reason"],
           f"a component whose dependency is unhealthy must be degraded, naming it: {api}")
    system = health.get_system_health()
    _check(system["status"] == "unhealthy" and set(system["components"]) == {"storage", "database", "api", "broker"},
           f"get_system_health() is {system['status']} over {sorted(system['components'])}")
    health.run_check("broker", "ping")
    history = health.get_check_history("broker", "ping", limit=100)
    # At least the two runs above (the background runner, started by the first check, may add its own).
    _check(len(history) >= 2 and all(a["time_unix_nano"] >= b["time_unix_nano"] for a, b in zip(history, history[1:])),
           f"get_check_history gave {len(history)} results, not newest first")
    server = serve_health(host="127.0.0.1", port=0)
    try:
        codes = {}
        for path in ("/livez", "/readyz"):
            try:
                with urllib.request.urlopen(server.url + path, timeout=10) as response:
                    codes[path] = (response.status, response.headers["Content-Type"], json.load(response))
            except urllib.error.HTTPError as exc:
                with exc:
                    codes[path] = (exc.code, exc.headers["Content-Type"], json.load(exc))
    finally:
        server.close()
    _check(codes["/livez"][:2] == (200, "application/health+json") and codes["/livez"][2]["status"] == "pass",
           f"/livez answered {codes['/livez']}")
    _check(codes["/readyz"][0] == 503 and codes["/readyz"][2]["checks"]["broker:ping"][0]["status"] == "fail",
           f"/readyz answered {codes['/readyz']}")
    doc = _load("metrics/metrics_registry.json")
    gauge = _file_series(_file_metric(doc, "health_check_status"), component="broker", check="ping")
    _check(gauge["points"][-1].get("value") == 0, f"health_check_status of broker:ping in the file is {gauge}")
    _file_series(_file_metric(doc, "health_check_duration_ms"), component="storage", check="data_folder")
    health.flush()
    for relative, schema in (("health/health_status.json", "health_status"),
                             ("health/health_history.json", "health_history")):
        written = _home() / relative
        _check(written.is_file(), f"{relative} was not written")
        problems = validate(json.loads(written.read_text()), load_schema(schema))
        _check(not problems, f"{relative} does not match its schema: {problems[:3]}")
    report = _home() / "health_report.json"
    health.export_health_report(str(report))
    _check(json.loads(report.read_text())["system"]["status"] == "unhealthy", "export_health_report()")
    return "checks run, dependency, probes over HTTP, metrics and files"


def check_alerts() -> str:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    get_alert_manager, get_metrics_collector, AlertRule, NotificationChannel, Severity = _need(
        "get_alert_manager", "get_metrics_collector", "AlertRule", "NotificationChannel", "Severity")
    import monitoring_layer

    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            received.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        metrics = get_metrics_collector()
        alerts = get_alert_manager()
        # The spec's calls, as written (the placeholder Slack URL is accepted; its delivery fails later).
        alerts.register_channel(NotificationChannel(channel_type="slack", channel_name="alerts",
                                                    config={"webhook_url": "https://..."}))
        alerts.register_channel(NotificationChannel("webhook", "selftest-hook",
                                                    {"url": f"http://127.0.0.1:{server.server_port}/hook"}))
        alerts.register_rule(AlertRule(rule_id="cpu_high", name="High CPU Usage", metric="cpu_usage",
                                       condition="> 85", threshold=85, severity=Severity.CRITICAL.value,
                                       notification_channels=["alerts", "selftest-hook"]))
        created = alerts.evaluate_and_trigger(metric="cpu_usage", value=92)
        _check(len(created) == 1 and created[0]["state"] == "triggered", f"evaluate_and_trigger gave {created}")
        alert_id = created[0]["alert_id"]
        critical = alerts.get_alerts_by_severity("CRITICAL")
        _check([a["alert_id"] for a in critical] == [alert_id], f"get_alerts_by_severity('CRITICAL') is {critical}")
        _check(len(alerts.get_open_incidents()) == 1, "no open incident for the triggered alert")
        alerts.acknowledge_alert(alert_id, acknowledged_by="admin")
        alerts.suppress_alert(alert_id, duration_minutes=60)
        alerts.resolve_alert(alert_id, resolved_by="admin")
        _check(alerts.get_active_alerts() == [], "the resolved alert is still active")
        # Automatic evaluation: a rule on what the application records, evaluated at flush().
        metrics.register_metric("selftest_queue_delay", "gauge", description="selftest", unit="ms")
        alerts.register_rule(AlertRule(rule_id="selftest_slow_queue", name="Queue slow",
                                       metric="selftest_queue_delay", condition="> 500", threshold=500,
                                       severity="high", notification_channels=["selftest-hook"]))
        metrics.set_gauge("selftest_queue_delay", 750, labels={"queue": "orders"})
        _check(monitoring_layer.flush(), "monitoring_layer.flush() did not finish")
        _check(alerts.flush(30), "notifications were not attempted in time")
        fired = [a for a in alerts.get_active_alerts() if a["rule_id"] == "selftest_slow_queue"]
        _check(fired and fired[0]["labels"] == {"queue": "orders"} and fired[0]["value"] == 750,
               f"the rule on selftest_queue_delay did not fire from the recorded gauge: {fired}")
        statuses = sorted((body["status"], body["alerts"][0]["labels"]["alertname"]) for body in received)
        _check(statuses == [("firing", "cpu_high"), ("firing", "selftest_slow_queue"), ("resolved", "cpu_high")],
               f"the webhook receiver got {statuses}")
        stats = alerts.get_alert_statistics()
        _check(stats["notifications_sent"] == 3 and stats["notifications_failed"] == 2,
               f"notification counts are {stats['notifications_sent']} sent, {stats['notifications_failed']} "
               "failed (expected 3 and 2: the placeholder Slack URL fails)")
        report = _home() / "incidents_report.json"
        alerts.export_incidents(report)
        _check(len(json.loads(report.read_text())["incidents"]) == 2, "export_incidents lacks the incidents")
        from monitoring_layer.exporters import FILES, load_schema, validate

        for relative in ("alerts/rules.json", "alerts/incidents.json", "alerts/audit_log.json"):
            doc = _load(relative)
            problems = validate(doc, load_schema(FILES[relative]))
            _check(not problems, f"{relative} is invalid: {problems[:3]}")
        events = {r["event"] for r in _load("alerts/audit_log.json")["records"]}
        wanted = {"channel_registered", "rule_registered", "state_changed", "incident_opened", "notification"}
        _check(wanted <= events, f"the audit log lacks {sorted(wanted - events)}")
    finally:
        server.shutdown()
        server.server_close()
    return "rules fire from recorded metrics; notifications delivered, failures recorded; files written"


def check_dashboard() -> str:
    import urllib.request

    from monitoring_layer.dashboard import ObservabilityDashboard, mount_dashboard
    from monitoring_layer._http import Router, start_server

    get_dashboard, get_health = _need("get_observability_dashboard", "get_health_check_manager")
    metrics, logs, traces = _collectors()
    health = get_health()
    health.register_check("selftest_db", "ping", lambda: False, interval_s=3600)
    health.run_all_checks()
    dashboard = get_dashboard(metrics_collector=metrics, log_aggregator=logs, tracing_collector=traces)
    panel = dashboard.get_health_panel()
    _check(panel["unhealthy"] == ["selftest_db"], f"the health panel shows {panel['components']}")
    metrics.register_metric("request_latency", "histogram", description="Request latency", unit="ms")
    for value in (12.0, 15.0, 240.0):
        metrics.observe_histogram("request_latency", value)
    logs.info("api", "request served")
    logs.error("api", "Connection failed", exception="TimeoutError")
    logs.error("db", "deadlock detected")
    for status in ("SUCCESS", "ERROR", "SUCCESS"):
        trace_id = traces.start_trace(service="selftest-api", request_id="req")
        span = traces.start_span(operation_name="handle", component="api")
        traces.end_span(span, status)
        traces.end_trace(trace_id, status)
    summary = dashboard.get_dashboard_summary()
    _check(summary["status"] == "unhealthy" and summary["unhealthy_components"] == ["selftest_db"],
           f"summary status {summary['status']}, unhealthy {summary['unhealthy_components']}")
    _check(summary["counts"]["traces"] == 3 and summary["counts"]["error_traces"] == 1,
           f"summary counts {summary['counts']}")
    _check(summary["counts"]["logs"] == 3 and summary["counts"]["log_errors"] == 2, f"summary {summary['counts']}")
    _check(json.loads(json.dumps(summary)) == summary, "the summary is not JSON-serialisable")
    errors = dashboard.get_traces_panel(status="ERROR")["traces"]
    _check(len(errors) == 1 and errors[0]["status"] == "ERROR", f"traces panel (ERROR) holds {errors}")
    api_errors = dashboard.get_logs_panel(component="api", level="ERROR")["logs"]
    _check([r["message"] for r in api_errors] == ["Connection failed"], f"logs panel holds {api_errors}")
    panel = dashboard.get_metrics_panel(metric_name="request_latency")["metrics"]
    _check(panel and panel[0]["statistics"]["count"] == 3, f"metrics panel {panel}")
    _check(sum(b["requests"] for b in dashboard.get_timeline_data(hours=1)["buckets"]) == 3, "timeline")
    _check(dashboard.get_performance_metrics()["requests"] == 3, "performance metrics")
    _check("selftest-api" in dashboard.get_service_status()["services"], "service status")
    report = _home() / "observability_report.json"
    dashboard.export_report(report)
    _check(set(json.loads(report.read_text())) >= {"summary", "traces", "logs", "metrics"}, "export_report")
    _load("traces/traces.json")  # flushes every file
    from_home = ObservabilityDashboard.from_home(_home()).get_dashboard_summary()
    _check(from_home["counts"]["traces"] == 3 and from_home["counts"]["logs"] == 3,
           f"from_home sees {from_home['counts']}")
    router = Router()
    mount_dashboard(router, dashboard, environ={})
    with start_server(router, "127.0.0.1", 0) as server:
        with urllib.request.urlopen(server.url + "/api/summary", timeout=10) as resp:
            _check(resp.status == 200 and json.loads(resp.read())["counts"]["traces"] == 3, "/api/summary")
        with urllib.request.urlopen(server.url + "/", timeout=10) as resp:
            _check("script-src 'self'" in resp.headers.get("Content-Security-Policy", ""), "the page's CSP")
    return "panels, filters, report, a home read back and the web API"


def _collectors() -> tuple[Any, Any, Any]:
    getters = _need("get_metrics_collector", "get_log_aggregator", "get_tracing_collector")
    return tuple(get() for get in getters)  # type: ignore[return-value]


def check_integration() -> str:
    from monitoring_layer import get_monitoring_integration

    metrics, logs, traces = _collectors()
    integration = get_monitoring_integration(metrics, logs, traces)
    integration.register_component("kafka", "streaming")
    registered = integration.integrate_kafka_metrics()
    expected = ["kafka_messages_in", "kafka_messages_out", "kafka_lag", "kafka_processing_time_ms"]
    _check(list(registered) == expected, f"integrate_kafka_metrics() returned {list(registered)}")
    _check(integration.integrate_kafka_metrics() == registered, "a second integrate_kafka_metrics() differs")
    metrics.increment_counter("kafka_messages_in", 5)

    @integration.monitored_function(component="kafka", operation="publish")
    def publish(topic: str, message: str) -> int:
        if not message:
            raise ValueError("empty message")
        return len(message)

    _check(publish("events", "hello") == 5, "the monitored function's result changed")
    try:
        publish("events", "")
    except ValueError:
        pass
    else:
        raise AssertionError("the monitored function's exception was swallowed")
    with integration.create_timer("kafka", "flush"):
        pass
    labels = {"component": "kafka", "operation": "publish"}
    stats = metrics.get_metric_statistics("operation_duration_ms", labels={**labels, "status": "success"})
    _check(_stat(stats, "count") == 1, f"operation_duration_ms statistics are {stats}")
    _check(_mentions(logs.get_logs(component="kafka", limit=100), "[KAFKA] publish - success"),
           "no completion log record for the monitored function")
    component = integration.get_component("kafka")
    _check(component and component["last_activity"], f"component activity not tracked: {component}")
    doc = _load("metrics/metrics_registry.json")
    _check(_file_series(_file_metric(doc, "kafka_messages_in")).get("sum") == 5, "kafka_messages_in not written")
    _check(_file_series(_file_metric(doc, "operations_total"), status="error", **labels).get("sum") == 1,
           "the failed call is not counted in operations_total")
    spans = [s for t in _load("traces/traces.json")["traces"] for s in t["spans"] if s["name"] == "publish"]
    _check(len(spans) == 2, f"expected 2 'publish' spans in traces/traces.json, found {len(spans)}")
    return "component, kafka metrics, monitored function and timer"


def check_decorators() -> str:
    from monitoring_layer import (
        LogFunction,
        TraceFunction,
        TrackExecution,
        count_operation,
        make_log_message,
        make_metric_name,
        measure_time,
        retry_with_tracking,
    )

    metrics, logs, traces = _collectors()
    _check(make_metric_name("kafka", "messages_in", "total") == "kafka_messages_in_total", "make_metric_name")
    _check(make_log_message("spark", "processing", "success", duration_ms=1234.56)
           == "[SPARK] processing - success (1234.56ms)", "make_log_message")

    @TrackExecution(component="selftest", metrics_collector=metrics)
    @LogFunction(component="selftest", log_aggregator=logs)
    @TraceFunction(component="selftest", tracing_collector=traces)
    def api_handler(request: str) -> str:
        return request.upper()

    _check(api_handler("a") == "A" and api_handler("b") == "B", "the decorated function's result changed")
    attempts: list[int] = []

    @retry_with_tracking(max_retries=2, base_delay=0.001, max_delay=0.002, metrics_collector=metrics)
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 2:
            raise ConnectionError("first attempt fails")
        return "ok"

    _check(flaky() == "ok" and len(attempts) == 2, "retry_with_tracking did not retry once")
    with measure_time("selftest", "block", metrics), count_operation("selftest", "block", metrics):
        pass
    function = api_handler.__qualname__
    stats = metrics.get_metric_statistics(
        "function_duration_ms", labels={"component": "selftest", "function": function, "status": "success"})
    _check(_stat(stats, "count") == 2, f"function_duration_ms statistics are {stats}")
    _check(_mentions(logs.get_logs(component="selftest", limit=100), f"[SELFTEST] {function} - success"),
           "LogFunction's completion record is missing")
    doc = _load("metrics/metrics_registry.json")
    calls = _file_series(_file_metric(doc, "function_calls_total"), function=function, status="success")
    _check(calls.get("sum") == 2, f"function_calls_total in the file is {calls}")
    _check(_file_series(_file_metric(doc, "retry_retries_total")).get("sum") == 1, "retries not counted")
    _check(_file_series(_file_metric(doc, "operations_total"), operation="block").get("sum") == 1,
           "count_operation not written")
    spans = [s for t in _load("traces/traces.json")["traces"] for s in t["spans"] if s["name"] == function]
    _check(len(spans) == 2, f"expected 2 spans named {function} in traces/traces.json, found {len(spans)}")
    return "stacked decorators, retry, context managers and helpers"


CHECKS: dict[str, Callable[[], str]] = {
    "metrics": check_metrics,
    "logs": check_logs,
    "traces": check_traces,
    "health": check_health,
    "alerts": check_alerts,
    "dashboard": check_dashboard,
    "integration": check_integration,
    "decorators": check_decorators,
}


def run_check(key: str) -> dict[str, Any]:
    """Run one area's check in this process; ``{"ok", "reason"}`` (never raises)."""
    try:
        detail = CHECKS[key]()
    except NotImplementedArea as exc:
        return {"ok": False, "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001 - a failing check is a result
        return {"ok": False, "reason": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "reason": detail}


def _main(argv: Sequence[str]) -> int:
    if len(argv) != 1 or argv[0] not in CHECKS:
        print(f"usage: python -m monitoring_layer.selftest {{{','.join(CHECKS)}}}", file=sys.stderr)
        return 2
    verdict = run_check(argv[0])
    print(json.dumps({"area": argv[0], **verdict}))
    return 0 if verdict["ok"] else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
