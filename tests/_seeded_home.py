"""A home with fixed content, written by two processes through the shared store (``python _seeded_home.py a|b``).

Everything is fixed (ids, times, values) so the commands' output can be compared exactly; the
store's read-merge-write under its lock is what joins the two processes' records, as in production.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from monitoring_layer.exporters._encode import iso
from monitoring_layer.exporters._store import JsonFileStore, prepare_home

T0 = 1_795_000_000_000_000_000  # 2026-11-18 11:06:40 UTC
MS = 1_000_000


def _times(start: int, end: int) -> dict:
    return {"start": iso(start), "start_unix_nano": start, "end": iso(end), "end_unix_nano": end,
            "duration_ms": (end - start) / MS}


def _span(span_id, parent, name, scope, service, start, end, status="SUCCESS", message=None, attributes=None,
          events=(), otel="UNSET"):
    return {"span_id": span_id, "parent_span_id": parent, "name": name, "kind": "INTERNAL", "service": service,
            "scope": scope, **_times(start, end), "status": status, "otel_status_code": otel, "status_message": message,
            "attributes": attributes or {}, "events": list(events), "links": []}


def _trace(trace_id, spans, status):
    root = spans[0]
    return {"trace_id": trace_id, "service": root["service"], "name": root["name"], "root_span_id": root["span_id"],
            "complete": True, "status": status, **_times(root["start_unix_nano"], root["end_unix_nano"]),
            "span_count": len(spans), "dropped_spans": 0, "spans": spans}


def _log(at, level, number, component, message, service, trace_id=None, **attributes):
    return {"time": iso(at), "time_unix_nano": at, "level": level, "severity_number": number,
            "severity_text": level, "component": component, "message": message,
            "attributes": {"component": component, **attributes}, "trace_id": trace_id,
            "span_id": None, "service": service}


def _point(at, **values):
    return {"time": iso(at), "time_unix_nano": at, **values}


TRACE_A = "a1" * 16
TRACE_B = "b2" * 16

PARTS = {
    "a": {
        "traces": [_trace(TRACE_A, [
            _span("a000000000000001", None, "load_batch", "etl", "etl", T0, T0 + 120 * MS, attributes={"rows": 700}),
            _span("a000000000000002", "a000000000000001", "read_csv", "reader", "etl", T0 + 5 * MS, T0 + 45 * MS,
                  events=[{"name": "rows_read", "time": iso(T0 + 40 * MS), "time_unix_nano": T0 + 40 * MS,
                           "attributes": {"rows": 500}}]),
            _span("a000000000000003", "a000000000000001", "write_parquet", "writer", "etl", T0 + 50 * MS,
                  T0 + 118 * MS, status="ERROR", otel="ERROR", message="disk full", attributes={"table": "orders"}),
        ], "ERROR")],
        "logs": [
            _log(T0 + 118 * MS, "ERROR", 17, "writer", "write failed: disk full", "etl", TRACE_A,
                 **{"exception.type": "OSError"}),
            _log(T0 + 1 * MS, "INFO", 9, "etl", "batch started", "etl", TRACE_A),
        ],
        "metrics": {
            "rows_loaded": {"type": "counter", "description": "Rows loaded", "unit": "1",
                            "prometheus_name": "rows_loaded_total", "series": [
                                {"labels": {"table": "orders"}, "source": "etl/100", "count": 2, "sum": 700,
                                 "points": [_point(T0 + 40 * MS, value=500, increment=500),
                                            _point(T0 + 100 * MS, value=700, increment=200)]}]},
            "batch_duration": {"type": "histogram", "description": "", "unit": "ms", "series": [
                {"labels": {}, "source": "etl/100", "points": [
                    _point(T0 + 60 * MS, count=1, sum=12.5, min=12.5, max=12.5, bucket_counts=[0, 0, 1, 0],
                           explicit_bounds=[5.0, 10.0, 25.0]),
                    _point(T0 + 120 * MS, count=4, sum=62.5, min=4.0, max=30.0, bucket_counts=[1, 0, 2, 1],
                           explicit_bounds=[5.0, 10.0, 25.0])]}]},
        },
    },
    "b": {
        "traces": [_trace(TRACE_B, [
            _span("b000000000000001", None, "GET /health", "api", "api", T0 + 60_000 * MS,
                  T0 + 60_000 * MS + 2_500_000, otel="OK"),
        ], "SUCCESS")],
        "logs": [
            _log(T0 + 60_001 * MS, "DEBUG", 5, "api", "probe answered", "api"),
            _log(T0 + 60_000 * MS, "WARNING", 13, "api", "slow dependency: cache", "api"),
        ],
        "metrics": {
            "rows_loaded": {"type": "counter", "description": "Rows loaded", "unit": "1",
                            "prometheus_name": "rows_loaded_total", "series": [
                                {"labels": {"table": "users"}, "source": "api/200", "count": 1, "sum": 30,
                                 "points": [_point(T0 + 60_000 * MS, value=30, increment=30)]}]},
        },
    },
}


def write(home: Path, part: str) -> None:
    data = PARTS[part]
    prepare_home(home, "traces", "logs", "metrics")

    def traces(doc):
        doc["traces"] = sorted(doc.get("traces", []) + data["traces"], key=lambda t: -t["end_unix_nano"])
        return doc

    def logs(doc):
        doc["records"] = sorted(doc.get("records", []) + data["logs"], key=lambda r: -r["time_unix_nano"])
        return doc

    def metrics(doc):
        merged = doc.get("metrics", {})
        for name, entry in data["metrics"].items():
            if name in merged:
                merged[name]["series"] += entry["series"]
            else:
                merged[name] = entry
        doc["metrics"] = dict(sorted(merged.items()))
        return doc

    JsonFileStore(home / "traces/traces.json", "traces", schema_version=2).update(traces)
    JsonFileStore(home / "logs/logs.json", "logs").update(logs)
    JsonFileStore(home / "metrics/metrics_registry.json", "metrics", schema_version=2).update(metrics)


if __name__ == "__main__":
    write(Path(os.environ["MONITORING_HOME"]), sys.argv[1])


# --------------------------------------------------------------------------- health and alerts files


def _check(component, check, status, output, duration_ms, at, critical=True, **extra):
    return {"component": component, "check": check, "status": status, "output": output,
            "duration_ms": duration_ms, "timestamp": iso(at) if at else None,
            **({"time_unix_nano": at} if at else {}), "critical": critical, "probe": "readiness",
            "details": {}, **extra}


ENGINES = {
    "a": {
        "health_components": {
            "postgres": {"component": "postgres", "status": "unhealthy", "reason": "critical check connection failed",
                         "depends_on": ["network"], "checks": {
                             "connection": _check("postgres", "connection", "unhealthy", "connection refused", 12.0,
                                                  T0 + 60_000 * MS),
                             "replication": _check("postgres", "replication", "healthy", "", 3.25, T0 + 60_000 * MS,
                                                   critical=False)}},
        },
        "health_history": {
            "postgres:connection": [
                _check("postgres", "connection", s, "", 10.0, T0 + (60_000 - 10_000 * i) * MS)
                for i, s in enumerate(["unhealthy", "unhealthy", "degraded", "healthy", "healthy"])],
        },
        "rules": [
            {"rule_id": "high_error_rate", "name": "High error rate", "metric": "errors_total", "condition": "> 10",
             "threshold": 10, "severity": "high", "notification_channels": ["ops"], "statistic": "rate",
             "for_s": 0, "keep_firing_for_s": 0, "cooldown_s": 300, "group_by": ["service"], "enabled": True},
        ],
        "alerts": [
            {"alert_id": "al-1", "rule_id": "high_error_rate", "name": "High error rate", "state": "triggered",
             "severity": "high", "value": 12.5, "labels": {"service": "api"}, "fingerprint": "f1f1f1f1f1f1f1f1",
             "incident_id": "inc-1", "started_at": iso(T0 + 30_000 * MS), "updated_at": iso(T0 + 60_000 * MS),
             "ended_at": None},
        ],
        "incidents": [
            {"incident_id": "inc-1", "fingerprint": "f1f1f1f1f1f1f1f1", "rule_id": "high_error_rate",
             "group_labels": {"service": "api"}, "severity": "high", "status": "open",
             "opened_at": iso(T0 + 30_000 * MS), "updated_at": iso(T0 + 60_000 * MS), "resolved_at": None,
             "alert_ids": ["al-1"], "active_alert_ids": ["al-1"]},
        ],
    },
    "b": {
        "health_components": {
            "api": {"component": "api", "status": "healthy", "reason": "", "depends_on": [], "checks": {
                "http": _check("api", "http", "healthy", "", 1.5, T0 + 61_000 * MS)}},
        },
        "health_history": {
            "api:http": [_check("api", "http", "healthy", "", 1.5, T0 + 61_000 * MS)],
        },
        "rules": [
            {"rule_id": "slow_queries", "name": "Slow queries", "metric": "query_ms", "condition": "> 250",
             "threshold": 250, "severity": "medium", "notification_channels": [], "statistic": "p95",
             "for_s": 60, "keep_firing_for_s": 0, "cooldown_s": 300, "group_by": [], "enabled": True},
        ],
        "alerts": [
            {"alert_id": "al-2", "rule_id": "slow_queries", "name": "Slow queries", "state": "resolved",
             "severity": "medium", "value": 312.75, "labels": {}, "fingerprint": "f2f2f2f2f2f2f2f2", "incident_id": "inc-2",
             "started_at": iso(T0), "updated_at": iso(T0 + 20_000 * MS), "ended_at": iso(T0 + 20_000 * MS)},
        ],
        "incidents": [
            {"incident_id": "inc-2", "fingerprint": "f2f2f2f2f2f2f2f2", "rule_id": "slow_queries", "group_labels": {},
             "severity": "medium", "status": "resolved", "opened_at": iso(T0), "updated_at": iso(T0 + 20_000 * MS),
             "resolved_at": iso(T0 + 20_000 * MS), "alert_ids": ["al-2"], "active_alert_ids": []},
        ],
    },
}


def write_engines(home: Path, part: str) -> None:
    """The health and alerts files of one process (merged into what the other wrote)."""
    data = ENGINES[part]
    prepare_home(home, "health", "alerts")
    updated = iso(T0 + 61_000 * MS if part == "b" else T0 + 60_000 * MS)

    def status(doc):
        components = {**doc.get("components", {}), **data["health_components"]}
        worst = min((c["status"] for c in components.values()),
                    key=["unhealthy", "degraded", "unknown", "healthy"].index)
        doc.update(updated=updated, status=worst, components=dict(sorted(components.items())))
        return doc

    def history(doc):
        doc.update(updated=updated, limit=100, checks={**doc.get("checks", {}), **data["health_history"]})
        return doc

    def rules(doc):
        doc.update(rules=doc.get("rules", []) + data["rules"], channels=doc.get("channels", []))
        return doc

    def incidents(doc):
        doc.update(incidents=doc.get("incidents", []) + data["incidents"], alerts=doc.get("alerts", []) + data["alerts"],
                   silences=doc.get("silences", []))
        return doc

    JsonFileStore(home / "health/health_status.json", "health_status").update(status)
    JsonFileStore(home / "health/health_history.json", "health_history").update(history)
    JsonFileStore(home / "alerts/rules.json", "alert_rules").update(rules)
    JsonFileStore(home / "alerts/incidents.json", "alert_incidents").update(incidents)
