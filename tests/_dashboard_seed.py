"""Seed data for the dashboard tests: real facades on the test's pipeline, and small engine fakes."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.context import Context

XSS_SCRIPT = "<script>document.title='pwned';window.__xss=1</script>"
XSS_IMG = "<img src=x onerror=\"document.title='pwned';window.__xss=2\">"


def raw_trace(provider: Any, service: str, name: str, start_ns: int, duration_ms: float, error: bool = False,
              children: int = 1) -> str:
    """A trace with exact times (no sleeping): a root span and ``children`` child spans."""
    tracer = provider.get_tracer("seed")
    root = tracer.start_span(name, context=Context(), start_time=start_ns,
                             attributes={"monitoring.service": service})
    ctx = otel_trace.set_span_in_context(root)
    step = int(duration_ms * 1e6) // (children + 1)
    for i in range(children):
        child = tracer.start_span(f"{name}.step{i}", context=ctx, start_time=start_ns + i * step)
        if error and i == children - 1:
            child.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, "boom"))
        child.end(end_time=start_ns + (i + 1) * step)
    root.end(end_time=start_ns + int(duration_ms * 1e6))
    return otel_trace.format_trace_id(root.get_span_context().trace_id)


def seed(metrics: Any, logs: Any, traces: Any, *, now_ns: int | None = None, n_traces: int = 20) -> dict[str, Any]:
    """Metrics, logs and traces with known counts; returns what was recorded."""
    now_ns = now_ns or time.time_ns()
    metrics.register_metric("request_latency", "histogram", description="Request latency", unit="ms")
    for i in range(30):
        metrics.observe_histogram("request_latency", 10.0 + i)
        metrics.increment_counter("request_count", labels={"method": "GET"})
    metrics.set_gauge("active_connections", 42, labels={"service": "api"})
    logs.info("api", "request served")
    logs.info("api", "another request served")
    logs.warning("db", "slow query")
    logs.error("api", "Connection failed", exception="TimeoutError")
    logs.error("db", "deadlock detected")
    logs.critical("api", XSS_SCRIPT)
    logs.info("web", XSS_IMG)
    ids = []
    errors = 0
    for i in range(n_traces):
        error = i % 5 == 0
        errors += error
        service = "api" if i % 2 == 0 else "batch"
        ids.append(raw_trace(traces.tracer_provider, service, f"GET /item/{i}",
                             now_ns - (n_traces - i) * 1_000_000_000, 10.0 + i, error=error))
    span_id = traces.start_trace(service="web", request_id="req_xss")
    inner = traces.start_span(operation_name=XSS_IMG, component="renderer")
    traces.end_span(inner, "SUCCESS")
    traces.end_trace(span_id)
    return {"trace_ids": ids, "traces": n_traces + 1, "error_traces": errors, "logs": 7, "log_errors": 3}


class FakeHealth:
    """The health engine's query methods, as the dashboard calls them."""

    def __init__(self) -> None:
        self.components = {"kafka": {"status": "healthy", "checks": {"broker": "ok"}},
                           "spark": {"status": "degraded"},
                           "lakehouse": {"status": "unhealthy", "message": XSS_SCRIPT}}

    def get_system_health(self) -> dict[str, Any]:
        return {"status": "unhealthy", "components": self.components}

    def get_component_status(self, component: str) -> dict[str, Any]:
        return self.components[component]


class FakeAlerts:
    """The alert engine's query and action methods; one channel holds a secret that must never show."""

    def __init__(self) -> None:
        self.alerts = [
            {"alert_id": "a1", "rule_id": "cpu_high", "name": "High CPU", "severity": "critical",
             "state": "triggered", "message": XSS_IMG, "triggered_at": time.time(),
             "channel": {"name": "ops", "config": {"webhook_url": "https://hooks.example/SECRET-TOKEN"}}},
            {"alert_id": "a2", "rule_id": "lag", "name": "Lag", "severity": "HIGH", "state": "acknowledged",
             "triggered_at": time.time()},
            {"alert_id": "a3", "rule_id": "old", "name": "Old", "severity": "low", "state": "resolved"},
        ]
        self.actions: list[tuple[str, str, str]] = []

    def get_active_alerts(self) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a["state"] in ("triggered", "acknowledged")]

    def get_open_incidents(self) -> list[dict[str, Any]]:
        return [{"incident_id": "i1", "title": "CPU", "alerts": ["a1"], "state": "open"}]

    def get_alert_statistics(self) -> dict[str, Any]:
        return {"total": 3, "triggered": 1, "acknowledged": 1,
                "notification_channels": {"ops": {"type": "slack", "config": {"token": "SECRET-TOKEN"}}}}

    # Like the alert engine: a dict back, KeyError for an unknown id, ValueError for a resolved alert.
    def _find(self, alert_id: str) -> dict[str, Any]:
        for alert in self.alerts:
            if alert["alert_id"] == alert_id:
                return alert
        raise KeyError(f"alert_id {alert_id!r} is unknown")

    def acknowledge_alert(self, alert_id: str, acknowledged_by: str) -> dict[str, Any]:
        self.actions.append(("ack", alert_id, acknowledged_by))
        alert = self._find(alert_id)
        if alert["state"] == "resolved":
            raise ValueError(f"alert_id {alert_id!r} is resolved; nothing to acknowledge")
        alert["state"] = "acknowledged"
        return dict(alert)

    def resolve_alert(self, alert_id: str, resolved_by: str) -> dict[str, Any]:
        self.actions.append(("resolve", alert_id, resolved_by))
        alert = self._find(alert_id)
        alert["state"] = "resolved"
        return dict(alert)
