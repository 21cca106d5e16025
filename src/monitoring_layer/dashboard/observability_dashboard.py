"""``ObservabilityDashboard``: the spec's panels over metrics, logs, traces, health and alerts.

Built on live collaborators (the facades of this process and, when given, the
health and alert engines) or, with ``ObservabilityDashboard.from_home(path)``,
on the files other processes write. Every method returns plain JSON data.

Where the numbers come from (docs/dashboard.md has the details):

* requests, errors, latency percentiles, throughput, per-service rates: finished
  traces (one request = one local root span, its latency the root's duration,
  an error when a span of the trace ended in error), counted once each into
  per-minute buckets (``_rollup``). Panels read the buckets of their window,
  never the trace history, so their cost does not grow with it;
* log counts: the log aggregator's running totals (live) or the file's records;
* metrics: the metrics collector's export (cached until it records again) or
  ``metrics/metrics_registry.json``;
* health and alerts: the engines' query methods, or their files.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from monitoring_layer._encode import iso
from monitoring_layer._encode import write_report
from monitoring_layer._status import ERROR, parse_trace_status

from . import _engines as eng
from ._home import HomeFiles
from ._home_engines import HomeAlerts, HomeHealth
from ._rollup import NS_PER_MINUTE
from ._sources import HomeSource, LiveSource, level_name

__all__ = ["ObservabilityDashboard"]

_BUCKET_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440)
_MAX_BUCKETS = 500
_POINTS_OVERVIEW = 60
_POINTS_DETAIL = 500
_SERIES_OVERVIEW = 10
_SERIES_DETAIL = 100
#: Window of "recent" rates (throughput, service request rates).
RATE_WINDOW_MINUTES = 5


def _check_limit(limit: Any, name: str = "limit", maximum: int = 1_000) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= maximum:
        raise ValueError(f"{name} must be an integer from 0 to {maximum}, got {limit!r}")
    return limit


def _check_text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string or None, got {type(value).__name__}")
    return value or None


class ObservabilityDashboard:
    """Panels over the process's telemetry (see the module docstring).

    Example::

        dashboard = ObservabilityDashboard(metrics, logs, traces, health_manager=health)
        dashboard.get_dashboard_summary()["counts"]["traces"]
        dashboard.get_logs_panel(component="api", level="ERROR")
    """

    def __init__(
        self,
        metrics_collector: Any = None,
        log_aggregator: Any = None,
        tracing_collector: Any = None,
        health_manager: Any = None,
        alert_manager: Any = None,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        _source: Any = None,
    ) -> None:
        self._clock_ns = clock_ns
        self._source = _source if _source is not None else LiveSource(
            metrics_collector, log_aggregator, tracing_collector)
        self.metrics_collector = metrics_collector
        self.log_aggregator = log_aggregator
        self.tracing_collector = tracing_collector
        self.health_manager = health_manager
        self.alert_manager = alert_manager
        self.home: Path | None = None

    @classmethod
    def from_home(cls, path: str | os.PathLike[str], *, clock_ns: Callable[[], int] = time.time_ns
                  ) -> ObservabilityDashboard:
        """A read-only dashboard over the files of a ``MONITORING_HOME`` written by other processes.

        Files are re-read when they change (inode, mtime or size), never locked.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a path, got {type(path).__name__}")
        files = HomeFiles(path)
        dashboard = cls(clock_ns=clock_ns, _source=HomeSource(files))
        dashboard.health_manager = HomeHealth(files)
        dashboard.alert_manager = HomeAlerts(files)
        dashboard.home = Path(path)
        return dashboard

    @property
    def read_only(self) -> bool:
        """True when alerts cannot be acknowledged or resolved from here (a home, or no alert engine)."""
        return self._source.read_only or self.alert_manager is None or not hasattr(self.alert_manager,
                                                                                   "acknowledge_alert")

    # ------------------------------------------------------------------ summary

    def get_dashboard_summary(self) -> dict[str, Any]:
        """Overall status, counts, error rate, p95 latency, active alerts by severity, unhealthy
        components and self-telemetry (dropped records, export errors)."""
        totals = self._source.rollup.totals()
        logs = self._source.log_totals()
        health = self._health()
        alerts = self._active_alerts()
        by_severity = {s: 0 for s in eng.SEVERITIES}
        for alert in alerts:
            sev = eng.severity_of(alert)
            by_severity[sev] = by_severity.get(sev, 0) + 1
        unhealthy = [c["component"] for c in health["components"] if c["status"] in ("unhealthy", "degraded")]
        now = self._clock_ns()
        recent_requests, recent_errors, _ = self._source.rollup.window(now - RATE_WINDOW_MINUTES * NS_PER_MINUTE)
        incidents = self._open_incidents()
        return {
            "generated": iso(now),
            "source": "home" if self.home is not None else "live",
            "home": None if self.home is None else str(self.home),
            "status": self._overall_status(health, by_severity, recent_requests, recent_errors, totals),
            "counts": {
                "metrics": self._source.metric_count(),
                "logs": logs.get("total") or 0,
                "log_errors": logs.get("errors") or 0,
                "traces": totals["requests"],
                "error_traces": totals["errors"],
                "services": len(self._source.rollup.services(now)),
                "active_alerts": len(alerts),
                "open_incidents": len(incidents),
                "components": len(health["components"]),
                "unhealthy_components": len(unhealthy),
            },
            "logs_by_level": logs.get("by_level") or {},
            "error_rate": totals["error_rate"],
            "p95_latency_ms": totals["p95"],
            "active_alerts": by_severity,
            "unhealthy_components": unhealthy,
            "health": health["status"] if health["configured"] else None,
            "alerts_configured": self.alert_manager is not None,
            "self_telemetry": self._source.self_telemetry(),
            "actions_enabled": not self.read_only,
        }

    @staticmethod
    def _overall_status(health: dict[str, Any], by_severity: dict[str, int], recent_requests: int,
                        recent_errors: int, totals: dict[str, Any]) -> str:
        # Worst of: the health engine's verdict, active alerts (critical: unhealthy, high: degraded)
        # and the recent error rate (over 5%: degraded). No data at all: unknown.
        statuses = [health["status"]] if health["configured"] and health["components"] else []
        if by_severity.get("critical"):
            statuses.append("unhealthy")
        elif by_severity.get("high"):
            statuses.append("degraded")
        if recent_requests:
            statuses.append("degraded" if recent_errors / recent_requests > 0.05 else "healthy")
        elif totals["requests"]:
            statuses.append("healthy")
        known = [s for s in statuses if s != "unknown"]
        return eng.worst(known) if known else "unknown"

    # ------------------------------------------------------------------ metrics

    def get_metrics_panel(self, metric_name: str | None = None) -> dict[str, Any]:
        """Metrics with type, unit, statistics and their series' recent points (for charts).

        ``metric_name`` keeps that metric only (more series and points per series);
        an unknown name gives an empty list.
        """
        metric_name = _check_text(metric_name, "metric_name")
        entries = self._source.metric_entries()
        names = sorted(entries) if metric_name is None else [n for n in (metric_name,) if n in entries]
        detail = metric_name is not None
        metrics = [self._metric_view(name, entries[name], detail) for name in names
                   if isinstance(entries[name], Mapping)]
        return {"metric_name": metric_name, "count": len(metrics), "metrics": metrics}

    @staticmethod
    def _metric_view(name: str, entry: Mapping[str, Any], detail: bool) -> dict[str, Any]:
        kind = entry.get("type")
        max_points = _POINTS_DETAIL if detail else _POINTS_OVERVIEW
        max_series = _SERIES_DETAIL if detail else _SERIES_OVERVIEW
        all_series = [s for s in entry.get("series", []) if isinstance(s, Mapping)]
        series_out = []
        for series in all_series[:max_series]:
            points = [p for p in series.get("points", []) if isinstance(p, Mapping)
                      and isinstance(p.get("value"), (int, float)) and isinstance(p.get("time_unix_nano"), int)]
            points.sort(key=lambda p: p["time_unix_nano"])
            kept = points[-max_points:]
            values = [float(p["value"]) for p in kept]
            if kind == "counter" and isinstance(series.get("sum"), (int, float)):
                # Counter points are increments; the chart shows the running total.
                running = float(series["sum"]) - sum(values)
                cumulative = []
                for v in values:
                    running += v
                    cumulative.append(running)
                values = cumulative
            series_out.append({
                "labels": dict(series.get("labels") or {}),
                "source": series.get("source"),
                "count": series.get("count"),
                "sum": series.get("sum"),
                "value": series.get("value", values[-1] if values else None),
                "points": [[p["time_unix_nano"] // 1_000_000, _finite(v)] for p, v in zip(kept, values)],
            })
        statistics = entry.get("statistics")
        return {
            "name": name,
            "type": kind,
            "unit": entry.get("unit", ""),
            "description": entry.get("description", ""),
            "prometheus_name": entry.get("prometheus_name"),
            "statistics": {k: _finite(v) for k, v in statistics.items()} if isinstance(statistics, Mapping) else None,
            "series_count": len(all_series),
            "series": series_out,
        }

    # ------------------------------------------------------------------ traces

    def get_traces_panel(self, status: str | None = None, service: str | None = None,
                         limit: int = 50) -> dict[str, Any]:
        """The newest finished traces, newest first; ``status`` (SUCCESS or ERROR, any case; OK means
        SUCCESS) and ``service`` filter them. Rows hold no spans: ``get_trace(trace_id)`` has those."""
        status = _check_text(status, "status")
        service = _check_text(service, "service")
        _check_limit(limit)
        wanted = None if status is None else parse_trace_status(status, "status")
        rollup = self._source.rollup
        rows = []
        for row in rollup.recent(errors_only=wanted == ERROR):
            if wanted is not None and row["status"] != wanted:
                continue
            if service is not None and row["service"] != service:
                continue
            rows.append({**row, "start": iso(row["start_unix_nano"]), "end": iso(row["end_unix_nano"])})
            if len(rows) >= limit:
                break
        totals = rollup.totals()
        return {"status": wanted, "service": service, "limit": limit, "count": len(rows), "traces": rows,
                "statistics": {"traces": totals["requests"], "error_traces": totals["errors"],
                               "error_rate": totals["error_rate"],
                               "duration_ms": {"p50": totals["p50"], "p95": totals["p95"], "p99": totals["p99"]}}}

    def get_trace(self, trace_id: str) -> dict[str, Any] | None:
        """One trace with its spans in start order, each with ``offset_ms`` from the trace's start
        (for a waterfall), or None when unknown."""
        if not isinstance(trace_id, str):
            raise TypeError(f"trace_id must be a string, got {type(trace_id).__name__}")
        trace_id = trace_id.strip().lower()
        if len(trace_id) != 32 or any(c not in "0123456789abcdef" for c in trace_id):
            return None
        return self._source.trace(trace_id)

    # ------------------------------------------------------------------ logs

    def get_logs_panel(self, component: str | None = None, level: str | None = None, query: str | None = None,
                       limit: int = 100) -> dict[str, Any]:
        """Log records, newest first. ``level`` is a minimum (``"ERROR"``: ERROR and CRITICAL, as the
        log aggregator's); ``query`` is the aggregator's full-text search (words, "quoted phrases")."""
        component = _check_text(component, "component")
        query = _check_text(query, "query")
        level = level_name(_check_text(level, "level"))
        _check_limit(limit)
        records = self._source.log_records(component, level, query, limit)
        return {"component": component, "level": level, "query": query, "limit": limit,
                "count": len(records), "logs": records, "statistics": self._source.log_totals()}

    # ------------------------------------------------------------------ health

    def _health(self) -> dict[str, Any]:
        manager = self.health_manager
        if manager is None or (hasattr(manager, "exists") and not manager.exists()):
            return {"configured": False, "status": "unknown", "components": [], "system": {}}
        system = eng.safe(manager.get_system_health())
        components = eng.components_of(system)
        status = system.get("status") or system.get("overall_status") if isinstance(system, Mapping) else None
        overall = eng.health_status(status) if status else eng.worst([c["status"] for c in components])
        return {"configured": True, "status": overall, "components": components, "system": system}

    def get_health_panel(self) -> dict[str, Any]:
        """Overall health and per-component status from the health engine (``configured: False`` without one)."""
        health = self._health()
        counts: dict[str, int] = {}
        for component in health["components"]:
            counts[component["status"]] = counts.get(component["status"], 0) + 1
        return {"configured": health["configured"], "status": health["status"], "counts": counts,
                "components": health["components"],
                "unhealthy": [c["component"] for c in health["components"] if c["status"] == "unhealthy"]}

    # ------------------------------------------------------------------ alerts

    def _active_alerts(self) -> list[dict[str, Any]]:
        manager = self.alert_manager
        if manager is None or (hasattr(manager, "exists") and not manager.exists()):
            return []
        return [a for a in eng.safe(manager.get_active_alerts()) if isinstance(a, dict)]

    def _open_incidents(self) -> list[dict[str, Any]]:
        manager = self.alert_manager
        if manager is None or not hasattr(manager, "get_open_incidents"):
            return []
        return [i for i in eng.safe(manager.get_open_incidents()) if isinstance(i, dict)]

    def get_alerts_panel(self, severity: str | None = None) -> dict[str, Any]:
        """Active alerts (``severity`` filters, any case), open incidents and statistics; no secrets."""
        severity = _check_text(severity, "severity")
        wanted = severity.lower() if severity is not None else None
        manager = self.alert_manager
        configured = manager is not None and not (hasattr(manager, "exists") and not manager.exists())
        alerts = self._active_alerts()
        if wanted is not None:
            alerts = [a for a in alerts if eng.severity_of(a) == wanted]
        for alert in alerts:
            alert.setdefault("alert_id", eng.alert_id(alert))
        stats = eng.safe(manager.get_alert_statistics()) if configured and hasattr(
            manager, "get_alert_statistics") else {}
        return {"configured": configured, "severity": wanted, "count": len(alerts), "alerts": alerts,
                "incidents": self._open_incidents() if configured else [],
                "statistics": stats, "actions_enabled": not self.read_only}

    def acknowledge_alert(self, alert_id: str, by: str = "dashboard") -> bool:
        """Acknowledge an alert through the alert engine. ``PermissionError`` when read-only."""
        return self._act("acknowledge_alert", alert_id, acknowledged_by=by)

    def resolve_alert(self, alert_id: str, by: str = "dashboard") -> bool:
        """Resolve an alert through the alert engine. ``PermissionError`` when read-only."""
        return self._act("resolve_alert", alert_id, resolved_by=by)

    def _act(self, method: str, alert_id: str, **who: str) -> bool:
        """True when done; False for an unknown alert. A refused transition (an alert already
        resolved) raises the engine's ``ValueError``."""
        if not isinstance(alert_id, str) or not alert_id:
            raise ValueError(f"alert_id must be a non-empty string, got {alert_id!r}")
        if self.read_only:
            raise PermissionError("this dashboard is read-only: it has no alert engine to act through")
        try:
            result = getattr(self.alert_manager, method)(alert_id, **who)
        except KeyError:
            return False
        return result is not False and result is not None

    # ------------------------------------------------------------------ timeline

    def get_timeline_data(self, hours: float = 24, bucket_minutes: int | None = None) -> dict[str, Any]:
        """Per bucket: requests, errors, p95 latency, log counts by level and alerts fired.

        ``bucket_minutes`` defaults to the smallest of 1, 2, 5, 10, 15, 30, 60... minutes giving at
        most 96 buckets; buckets are aligned to the epoch. Trace buckets are kept 48 hours.
        """
        if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not 0 < hours <= 24 * 30:
            raise ValueError(f"hours must be a number in (0, 720], got {hours!r}")
        if bucket_minutes is None:
            bucket_minutes = next((s for s in _BUCKET_STEPS if hours * 60 / s <= 96), _BUCKET_STEPS[-1])
        elif isinstance(bucket_minutes, bool) or not isinstance(bucket_minutes, int) or bucket_minutes <= 0:
            raise ValueError(f"bucket_minutes must be an integer > 0, got {bucket_minutes!r}")
        if hours * 60 / bucket_minutes > _MAX_BUCKETS:
            raise ValueError(f"hours / bucket_minutes gives more than {_MAX_BUCKETS} buckets; "
                             "use larger buckets")
        now = self._clock_ns()
        since = now - int(hours * 3600e9)
        first = since // NS_PER_MINUTE // bucket_minutes * bucket_minutes
        last = now // NS_PER_MINUTE // bucket_minutes * bucket_minutes
        traces = self._source.rollup.buckets(first * NS_PER_MINUTE, now, bucket_minutes)
        levels: dict[int, dict[str, int]] = {}
        for record in self._source.log_records(None, None, None, 1_000_000, since_ns=first * NS_PER_MINUTE):
            ns = record.get("time_unix_nano")
            if not isinstance(ns, int):
                continue
            start = ns // NS_PER_MINUTE // bucket_minutes * bucket_minutes
            counts = levels.setdefault(start, {})
            counts[record.get("level", "UNSPECIFIED")] = counts.get(record.get("level", "UNSPECIFIED"), 0) + 1
        fired: dict[int, int] = {}
        for ns in self._alert_fire_times():
            start = ns // NS_PER_MINUTE // bucket_minutes * bucket_minutes
            fired[start] = fired.get(start, 0) + 1
        buckets = []
        for start in range(first, last + 1, bucket_minutes):
            requests, errors, latency = traces.get(start, (0, 0, None))
            buckets.append({
                "start": iso(start * NS_PER_MINUTE),
                "start_ms": start * 60_000,
                "requests": requests,
                "errors": errors,
                "p95_latency_ms": latency.percentile(95) if latency is not None else None,
                "logs": levels.get(start, {}),
                "alerts_fired": fired.get(start, 0),
            })
        return {"hours": hours, "bucket_minutes": bucket_minutes, "buckets": buckets}

    def _alert_fire_times(self) -> list[int]:
        """When each known alert fired: active ones and the engine's recent history (or the file's alerts)."""
        manager = self.alert_manager
        if manager is None:
            return []
        alerts: list[Any] = []
        for name, kwargs in (("get_all_alerts", {}), ("get_active_alerts", {}), ("get_alert_history", {"limit": 1000})):
            method = getattr(manager, name, None)
            if callable(method):
                alerts.extend(eng.safe(method(**kwargs)))
                if name == "get_all_alerts":
                    break
        times: dict[str, int] = {}
        for alert in alerts:
            if isinstance(alert, dict):
                ns = eng.alert_time_ns(alert, "fired_at", "triggered_at", "started_at", "timestamp")
                if ns is not None:
                    times[eng.alert_id(alert) or str(len(times))] = ns
        return list(times.values())

    # ------------------------------------------------------------------ performance, services

    def get_performance_metrics(self) -> dict[str, Any]:
        """p50/p95/p99 latency (ms), throughput (requests/s) and error rate, from finished traces:
        all-time, and over the last ``RATE_WINDOW_MINUTES`` minutes."""
        rollup = self._source.rollup
        totals = rollup.totals()
        now = self._clock_ns()
        requests, errors, latency = rollup.window(now - RATE_WINDOW_MINUTES * NS_PER_MINUTE)
        span_s = (totals["last_ns"] - totals["first_ns"]) / 1e9 if totals["requests"] else 0.0
        window_s = min(RATE_WINDOW_MINUTES * 60.0, max(1.0, (now - totals["first_ns"]) / 1e9)) \
            if totals["requests"] else RATE_WINDOW_MINUTES * 60.0
        return {
            "source": "finished traces: one request per local root span, latency = its duration",
            "p50": totals["p50"], "p95": totals["p95"], "p99": totals["p99"],
            "latency_ms": {"p50": totals["p50"], "p95": totals["p95"], "p99": totals["p99"]},
            "throughput": round(totals["requests"] / max(span_s, 1.0), 6),
            "throughput_per_second": round(totals["requests"] / max(span_s, 1.0), 6),
            "error_rate": totals["error_rate"],
            "requests": totals["requests"],
            "errors": totals["errors"],
            "recent": {
                "window_minutes": RATE_WINDOW_MINUTES,
                "requests": requests,
                "errors": errors,
                "throughput_per_second": round(requests / window_s, 6),
                "error_rate": round(errors / requests, 6) if requests else 0.0,
                "latency_ms": {"p50": latency.percentile(50), "p95": latency.percentile(95),
                               "p99": latency.percentile(99)},
            },
        }

    def get_service_status(self) -> dict[str, Any]:
        """Per service (traces) and component (health): health, request rate, error rate, last seen."""
        now = self._clock_ns()
        services = self._source.rollup.services(now)
        health = {c["component"]: c["status"] for c in self._health()["components"]}
        out = {}
        for name in sorted(set(services) | set(health)):
            row = services.get(name)
            out[name] = {
                "health": health.get(name, "unknown"),
                "requests": row["requests"] if row else 0,
                "errors": row["errors"] if row else 0,
                "request_rate_per_s": row["request_rate_per_s"] if row else 0.0,
                "error_rate": row["error_rate"] if row else 0.0,
                "p95_latency_ms": row["p95_latency_ms"] if row else None,
                "last_seen": iso(row["last_seen_ns"]) if row and row["last_seen_ns"] else None,
            }
        return {"services": out, "count": len(out), "rate_window_minutes": RATE_WINDOW_MINUTES}

    # ------------------------------------------------------------------ report

    def export_report(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """Write every panel into one JSON document at ``path`` (0600, atomic); returns the document."""
        report = {
            "generated": iso(self._clock_ns()),
            "summary": self.get_dashboard_summary(),
            "metrics": self.get_metrics_panel(),
            "traces": self.get_traces_panel(limit=1_000),
            "logs": self.get_logs_panel(limit=1_000),
            "health": self.get_health_panel(),
            "alerts": self.get_alerts_panel(),
            "timeline": self.get_timeline_data(),
            "performance": self.get_performance_metrics(),
            "services": self.get_service_status(),
        }
        write_report(path, report)
        return report


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
