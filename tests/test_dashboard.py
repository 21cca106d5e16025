"""ObservabilityDashboard (SPEC §6): every panel on seeded data from the real facades."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from _dashboard_seed import XSS_SCRIPT, FakeAlerts, FakeHealth, raw_trace, seed

from monitoring_layer.dashboard import ObservabilityDashboard
from monitoring_layer.dashboard._rollup import LatencyHistogram, TraceRollup
from monitoring_layer.logging import LogAggregator
from monitoring_layer.metrics import MetricsCollector
from monitoring_layer.tracing import TracingCollector


@pytest.fixture
def facades(pipeline):
    metrics = MetricsCollector(pipeline=pipeline)
    logs = LogAggregator(pipeline.logger_provider, settings=pipeline.settings)
    traces = TracingCollector(pipeline.tracer_provider, settings=pipeline.settings)
    yield metrics, logs, traces
    metrics.close()


@pytest.fixture
def seeded(facades):
    dashboard = ObservabilityDashboard(*facades, health_manager=FakeHealth(), alert_manager=FakeAlerts())
    recorded = seed(*facades)
    return dashboard, recorded


def _json_roundtrip(value):
    return json.loads(json.dumps(value, allow_nan=False))


def test_summary_counts_what_was_recorded(seeded):
    dashboard, recorded = seeded
    summary = dashboard.get_dashboard_summary()
    assert _json_roundtrip(summary) == summary
    counts = summary["counts"]
    assert counts["traces"] == recorded["traces"]
    assert counts["error_traces"] == recorded["error_traces"]
    assert counts["logs"] == recorded["logs"] and counts["log_errors"] == recorded["log_errors"]
    assert counts["metrics"] == 3
    assert summary["active_alerts"] == {"critical": 1, "high": 1, "medium": 0, "low": 0}
    assert summary["unhealthy_components"] == ["lakehouse", "spark"]
    assert summary["status"] == "unhealthy"  # the health engine says so, and a critical alert is active
    assert summary["error_rate"] == pytest.approx(recorded["error_traces"] / recorded["traces"], abs=1e-6)
    assert 10 <= summary["p95_latency_ms"] <= 31
    assert set(summary["self_telemetry"]) >= {"dropped_records", "export_errors"}


def test_summary_is_known_without_engines_and_unknown_without_data(facades):
    dashboard = ObservabilityDashboard(*facades)
    assert dashboard.get_dashboard_summary()["status"] == "unknown"
    seed(*facades)
    summary = dashboard.get_dashboard_summary()
    assert summary["health"] is None and summary["alerts_configured"] is False
    assert summary["status"] == "degraded"  # 4 of 21 recent traces failed: over 5%


def test_traces_panel_filters(seeded):
    dashboard, recorded = seeded
    errors = dashboard.get_traces_panel(status="ERROR")
    assert errors["count"] == recorded["error_traces"]
    assert {t["status"] for t in errors["traces"]} == {"ERROR"}
    assert dashboard.get_traces_panel(status="error")["count"] == recorded["error_traces"]
    ok = dashboard.get_traces_panel(status="SUCCESS", limit=1000)["traces"]
    assert len(ok) == recorded["traces"] - recorded["error_traces"]
    api = dashboard.get_traces_panel(service="api", limit=1000)["traces"]
    assert api and {t["service"] for t in api} == {"api"}
    newest_first = [t["end_unix_nano"] for t in dashboard.get_traces_panel(limit=5)["traces"]]
    assert newest_first == sorted(newest_first, reverse=True) and len(newest_first) == 5
    with pytest.raises(ValueError, match="status"):
        dashboard.get_traces_panel(status="MAYBE")
    with pytest.raises(ValueError, match="limit"):
        dashboard.get_traces_panel(limit=-1)


def test_get_trace_gives_spans_with_offsets_for_the_waterfall(seeded):
    dashboard, recorded = seeded
    trace = dashboard.get_trace(recorded["trace_ids"][0])
    assert trace is not None and trace["span_count"] == 2 and trace["status"] == "ERROR"
    root = next(s for s in trace["spans"] if s["parent_span_id"] is None)
    child = next(s for s in trace["spans"] if s is not root)
    assert root["parent_span_id"] is None and child["parent_span_id"] == root["span_id"]
    assert root["offset_ms"] == 0 and child["offset_ms"] >= 0
    assert child["status"] == "ERROR"
    assert dashboard.get_trace("0" * 31 + "1") is None and dashboard.get_trace("nope") is None


def test_logs_panel_filters(seeded):
    dashboard, _ = seeded
    api_errors = dashboard.get_logs_panel(component="api", level="ERROR")["logs"]
    assert len(api_errors) == 2
    assert {r["component"] for r in api_errors} == {"api"}
    assert {r["level"] for r in api_errors} <= {"ERROR", "CRITICAL"}
    found = dashboard.get_logs_panel(query="deadlock")["logs"]
    assert [r["message"] for r in found] == ["deadlock detected"]
    assert dashboard.get_logs_panel(level="warning", component="db")["count"] == 2
    assert dashboard.get_logs_panel(limit=3)["count"] == 3
    with pytest.raises(ValueError, match="level"):
        dashboard.get_logs_panel(level="LOUD")


def test_metrics_panel(seeded):
    dashboard, _ = seeded
    overview = dashboard.get_metrics_panel()
    assert [m["name"] for m in overview["metrics"]] == ["active_connections", "request_count", "request_latency"]
    latency = dashboard.get_metrics_panel(metric_name="request_latency")
    assert latency["count"] == 1
    metric = latency["metrics"][0]
    assert metric["unit"] == "ms" and metric["statistics"]["count"] == 30
    assert len(metric["series"][0]["points"]) == 30
    counter = dashboard.get_metrics_panel("request_count")["metrics"][0]["series"][0]["points"]
    assert [v for _, v in counter][-1] == 30  # counters chart their running total
    assert dashboard.get_metrics_panel("missing")["metrics"] == []


def test_health_panel(seeded):
    dashboard, _ = seeded
    panel = dashboard.get_health_panel()
    assert panel["configured"] and panel["status"] == "unhealthy"
    assert [c["component"] for c in panel["components"]] == ["lakehouse", "spark", "kafka"]
    assert panel["counts"] == {"unhealthy": 1, "degraded": 1, "healthy": 1}
    assert ObservabilityDashboard().get_health_panel()["configured"] is False


def test_alerts_panel_filters_case_insensitively_and_hides_secrets(seeded):
    dashboard, _ = seeded
    critical = dashboard.get_alerts_panel(severity="CRITICAL")
    assert [a["alert_id"] for a in critical["alerts"]] == ["a1"]
    assert [a["alert_id"] for a in dashboard.get_alerts_panel(severity="high")["alerts"]] == ["a2"]
    everything = json.dumps(dashboard.get_alerts_panel())
    assert "SECRET-TOKEN" not in everything and "webhook" not in everything
    assert dashboard.get_alerts_panel()["incidents"][0]["incident_id"] == "i1"


def test_actions_go_to_the_alert_engine(seeded):
    dashboard, _ = seeded
    assert dashboard.acknowledge_alert("a1", by="oncall") is True
    assert dashboard.resolve_alert("a1", by="oncall") is True
    assert dashboard.alert_manager.actions == [("ack", "a1", "oncall"), ("resolve", "a1", "oncall")]
    assert dashboard.get_alerts_panel(severity="critical")["alerts"] == []
    with pytest.raises(PermissionError):
        ObservabilityDashboard().acknowledge_alert("a1")


def test_timeline_buckets_with_an_injected_clock(facades):
    now = 1_800_000_000 * 10**9 + 20 * 60 * 10**9  # 20 minutes into a 30-minute bucket
    dashboard = ObservabilityDashboard(*facades, alert_manager=FakeAlerts(), clock_ns=lambda: now)
    _metrics, _logs, traces = facades
    for minutes_ago, error in ((0, False), (0, True), (30, False), (90, False), (25 * 60, False)):
        raw_trace(traces.tracer_provider, "api", "job", now - minutes_ago * 60 * 10**9 - 10**9, 50, error=error)
    timeline = dashboard.get_timeline_data(hours=2, bucket_minutes=30)
    assert timeline["bucket_minutes"] == 30
    buckets = timeline["buckets"]
    assert sum(b["requests"] for b in buckets) == 4  # the one 25 hours ago is outside
    assert buckets[-1]["requests"] == 2 and buckets[-1]["errors"] == 1
    assert buckets[-1]["p95_latency_ms"] == pytest.approx(50, rel=0.05)
    assert dashboard.get_timeline_data(hours=24)["bucket_minutes"] == 15
    assert len(dashboard.get_timeline_data(hours=1)["buckets"]) in (60, 61)
    with pytest.raises(ValueError, match="hours"):
        dashboard.get_timeline_data(hours=0)


def test_timeline_counts_logs_by_level_and_alerts_fired(seeded):
    dashboard, recorded = seeded
    buckets = dashboard.get_timeline_data(hours=1)["buckets"]
    levels: dict[str, int] = {}
    for bucket in buckets:
        for level, n in bucket["logs"].items():
            levels[level] = levels.get(level, 0) + n
    assert levels == {"INFO": 3, "WARNING": 1, "ERROR": 2, "CRITICAL": 1}
    assert sum(b["alerts_fired"] for b in buckets) == 2
    assert sum(b["requests"] for b in buckets) == recorded["traces"]


def test_performance_and_services(seeded):
    dashboard, recorded = seeded
    perf = dashboard.get_performance_metrics()
    assert perf["requests"] == recorded["traces"]
    assert perf["p50"] <= perf["p95"] <= perf["p99"]
    assert perf["error_rate"] == pytest.approx(recorded["error_traces"] / recorded["traces"], abs=1e-6)
    assert perf["throughput_per_second"] > 0
    services = dashboard.get_service_status()["services"]
    assert set(services) >= {"api", "batch", "web", "kafka", "spark", "lakehouse"}
    assert services["api"]["requests"] == 10 and services["api"]["error_rate"] > 0
    assert services["lakehouse"]["health"] == "unhealthy" and services["lakehouse"]["requests"] == 0
    assert services["api"]["last_seen"].endswith("Z")


def test_export_report_holds_every_panel(seeded, tmp_path: Path):
    dashboard, recorded = seeded
    target = tmp_path / "observability_report.json"
    dashboard.export_report(target)
    report = json.loads(target.read_text())
    assert set(report) >= {"summary", "metrics", "traces", "logs", "health", "alerts", "timeline",
                           "performance", "services"}
    assert report["summary"]["counts"]["traces"] == recorded["traces"]
    assert target.stat().st_mode & 0o777 == 0o600
    assert XSS_SCRIPT in target.read_text().replace("\\u003c", "<") or "script" in target.read_text()


def test_a_dashboard_started_late_counts_earlier_traces_once(facades):
    metrics, logs, traces = facades
    seed(metrics, logs, traces)
    dashboard = ObservabilityDashboard(metrics, logs, traces)
    assert dashboard.get_dashboard_summary()["counts"]["traces"] == 21
    raw_trace(traces.tracer_provider, "api", "later", time.time_ns(), 5)
    assert dashboard.get_dashboard_summary()["counts"]["traces"] == 22


def test_latency_histogram_is_within_its_ratio():
    hist = LatencyHistogram()
    for value in range(1, 1001):
        hist.add(float(value))
    assert hist.percentile(50) == pytest.approx(500, rel=0.04)
    assert hist.percentile(99) == pytest.approx(990, rel=0.04)
    assert hist.percentile(100) == 1000
    assert LatencyHistogram().percentile(50) is None


def test_rollup_is_bounded():
    rollup = TraceRollup(max_minutes=3, recent=5, max_services=2)
    for minute in range(10):
        rollup.add(f"{minute:032x}", f"s{minute}", "op", minute * 60 * 10**9, minute * 60 * 10**9 + 10**6, False)
    assert len(rollup.recent()) == 5
    assert rollup.window(0)[0] == 3
    assert len(rollup.services(10 * 60 * 10**9)) == 3  # two named services and "_other"
    assert rollup.totals()["requests"] == 10
