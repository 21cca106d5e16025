"""ObservabilityDashboard.from_home: the panels over a home another process wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitoring_layer import _selfmon
from monitoring_layer.dashboard import ObservabilityDashboard

pytestmark = pytest.mark.integration

WRITER = """
import sys
sys.path.insert(0, {tests!r})
from _dashboard_seed import seed
import monitoring_layer
from monitoring_layer import get_metrics_collector, get_log_aggregator, get_tracing_collector
print(seed(get_metrics_collector(), get_log_aggregator(), get_tracing_collector(), n_traces={n})["trace_ids"][0])
assert monitoring_layer.flush()
"""


@pytest.fixture
def written(home: Path, run_python):
    proc = run_python(WRITER.format(tests=str(Path(__file__).parent), n=20),
                      env={"MONITORING_EXPORT_INTERVAL": "3600"})
    return proc.stdout.strip().splitlines()[-1]


def test_panels_over_a_home_written_by_another_process(home: Path, written: str):
    dashboard = ObservabilityDashboard.from_home(home)
    summary = dashboard.get_dashboard_summary()
    assert summary["source"] == "home" and summary["actions_enabled"] is False
    assert summary["counts"]["traces"] == 21 and summary["counts"]["error_traces"] == 4
    assert summary["counts"]["logs"] == 7 and summary["counts"]["log_errors"] == 3
    assert summary["counts"]["metrics"] >= 3
    assert summary["health"] is None and summary["active_alerts"]["critical"] == 0
    assert json.loads(json.dumps(summary)) == summary

    errors = dashboard.get_traces_panel(status="ERROR")["traces"]
    assert len(errors) == 4 and {t["status"] for t in errors} == {"ERROR"}
    assert {t["service"] for t in dashboard.get_traces_panel(service="batch")["traces"]} == {"batch"}
    trace = dashboard.get_trace(written)
    assert trace is not None and trace["span_count"] == 2 and trace["status"] == "ERROR"
    assert all(s["offset_ms"] is not None for s in trace["spans"])

    api_errors = dashboard.get_logs_panel(component="api", level="ERROR")["logs"]
    assert len(api_errors) == 2 and {r["component"] for r in api_errors} == {"api"}
    assert [r["message"] for r in dashboard.get_logs_panel(query="deadlock")["logs"]] == ["deadlock detected"]

    latency = dashboard.get_metrics_panel("request_latency")["metrics"][0]
    assert latency["statistics"]["count"] == 30 and len(latency["series"][0]["points"]) == 30
    timeline = dashboard.get_timeline_data(hours=1)
    assert sum(b["requests"] for b in timeline["buckets"]) == 21
    assert sum(sum(b["logs"].values()) for b in timeline["buckets"]) == 7
    assert dashboard.get_performance_metrics()["requests"] == 21
    assert {"api", "batch", "web"} <= set(dashboard.get_service_status()["services"])
    assert dashboard.get_health_panel()["configured"] is False
    assert dashboard.get_alerts_panel()["configured"] is False
    with pytest.raises(PermissionError):
        dashboard.acknowledge_alert("a1")


def test_reloads_only_when_a_file_changes(home: Path, written: str, run_python):
    dashboard = ObservabilityDashboard.from_home(home)
    files = dashboard._source.files
    assert dashboard.get_dashboard_summary()["counts"]["traces"] == 21
    loads = files.traces.loads
    dashboard.get_dashboard_summary()
    assert files.traces.loads == loads  # unchanged file: not parsed again
    run_python(WRITER.format(tests=str(Path(__file__).parent), n=4), env={"MONITORING_EXPORT_INTERVAL": "3600"})
    assert dashboard.get_dashboard_summary()["counts"]["traces"] == 26  # the second writer's 5 traces merged in
    assert files.traces.loads == loads + 1


def test_absent_and_corrupt_files(tmp_path: Path):
    empty = ObservabilityDashboard.from_home(tmp_path / "nothing-here")
    summary = empty.get_dashboard_summary()
    assert summary["status"] == "unknown" and summary["counts"]["traces"] == 0
    assert empty.get_logs_panel()["logs"] == [] and empty.get_metrics_panel()["metrics"] == []
    (tmp_path / "h" / "logs").mkdir(parents=True)
    (tmp_path / "h" / "logs" / "logs.json").write_text("{not json")
    broken = ObservabilityDashboard.from_home(tmp_path / "h")
    assert broken.get_logs_panel()["logs"] == []
    assert _selfmon.counts()["errors"].get("dashboard") == 1  # counted, not raised


def test_health_and_alert_files_are_read_tolerantly(tmp_path: Path):
    home = tmp_path / "h"
    (home / "health").mkdir(parents=True)
    (home / "alerts").mkdir()
    (home / "health" / "health_status.json").write_text(json.dumps({
        "status": "degraded", "components": {"kafka": {"status": "healthy"}, "spark": {"status": "degraded"}}}))
    (home / "alerts" / "incidents.json").write_text(json.dumps({
        "incidents": [{"incident_id": "i1", "state": "open", "alerts": [
            {"alert_id": "a1", "severity": "CRITICAL", "state": "triggered", "message": "cpu",
             "channel_config": {"webhook_url": "https://secret"}}]}]}))
    dashboard = ObservabilityDashboard.from_home(home)
    assert dashboard.get_health_panel()["status"] == "degraded"
    panel = dashboard.get_alerts_panel(severity="critical")
    assert [a["alert_id"] for a in panel["alerts"]] == ["a1"]
    assert "secret" not in json.dumps(panel)
    assert dashboard.get_dashboard_summary()["status"] == "unhealthy"


def test_serve_command_serves_a_home(home: Path, written: str):
    import re
    import signal
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "monitoring_layer", "serve", "--home", str(home), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        url = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        assert url, line + proc.stderr.read()  # type: ignore[union-attr]
        with urllib.request.urlopen(url.group(1) + "/api/summary", timeout=10) as resp:
            summary = json.loads(resp.read())
        assert summary["source"] == "home" and summary["counts"]["traces"] == 21
        for probe in ("/livez", "/startupz", "/readyz"):
            with urllib.request.urlopen(url.group(1) + probe, timeout=10) as resp:
                assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain"), probe
        with urllib.request.urlopen(url.group(1) + "/healthz", timeout=10) as resp:
            assert resp.headers["Content-Type"] == "application/health+json"
        with urllib.request.urlopen(url.group(1) + "/", timeout=10) as resp:
            assert resp.headers["Content-Type"].startswith("text/html")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)  # also closes the pipes
    assert proc.returncode == 0
