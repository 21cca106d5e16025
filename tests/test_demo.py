"""``monitoring-layer demo`` in a subprocess: it runs, serves, writes valid files and exits 0."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from monitoring_layer.cli import check_home
from monitoring_layer.dashboard import ObservabilityDashboard

pytestmark = pytest.mark.integration


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read()


def test_demo_runs_serves_and_writes_valid_files(tmp_path: Path):
    home = tmp_path / "demo-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONITORING_"))}
    proc = subprocess.Popen([sys.executable, "-m", "monitoring_layer", "demo", "--home", str(home), "--port", "0",
                             "--duration", "20"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        url = None
        while url is None:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line, "the demo exited before printing its URL: " + proc.stderr.read()  # type: ignore[union-attr]
            lines.append(line)
            found = re.search(r"dashboard\s+(http://127\.0\.0\.1:\d+)/", line)
            url = found.group(1) if found else None
        # while it runs (it took one step before printing): /metrics, the probes, the page and the API answer
        status, kind, body = _get(url + "/metrics")
        assert status == 200 and kind.startswith("text/plain") and b"spark_jobs_completed" in body
        assert _get(url + "/livez")[0] == 200 and _get(url + "/")[1].startswith("text/html")
        health = json.loads(_get(url + "/api/health")[2])
        assert health["configured"] and "schema_registry" in {c["component"] for c in health["components"]}
        summary = json.loads(_get(url + "/api/summary")[2])
        assert summary["source"] == "live" and summary["counts"]["traces"] > 0
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = "".join(lines) + out
    assert proc.returncode == 0, output + err
    assert "summary" in output and "traces" in output and str(home) in output
    injected = re.search(r"faults injected\s+(.*)", output)
    assert injected, output
    for name in ("latency spike", "error burst", "lag growth"):  # each fault ran in a 20-second run
        steps = re.search(re.escape(name) + r" for (\d+) steps", injected.group(1))
        assert steps and int(steps.group(1)) > 0, injected.group(1)
    report = check_home(home)
    statuses = {f["file"]: f["status"] for f in report["files"]}
    assert statuses["metrics/metrics_registry.json"] == "ok"
    assert statuses["logs/logs.json"] == "ok"
    assert statuses["traces/traces.json"] == "ok"
    assert statuses["health/health_status.json"] == "ok" and statuses["health/health_history.json"] == "ok"
    for name in ("alerts/rules.json", "alerts/incidents.json", "alerts/audit_log.json"):
        assert statuses[name] == "ok", (name, report)
    alerts = re.search(r"alerts\s+fired (\d+), resolved (\d+)", output)
    assert alerts and int(alerts.group(1)) >= 1 and int(alerts.group(2)) >= 1, output  # fired and resolved
    assert all(s != "invalid" for s in statuses.values()), report
    check = subprocess.run([sys.executable, "-m", "monitoring_layer", "check", "--home", str(home)], env=env,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    # the home read back by another process's dashboard: the engines' files included
    from_home = ObservabilityDashboard.from_home(home)
    assert from_home.get_alerts_panel()["statistics"]["total"] >= 1
    assert sum(b["alerts_fired"] for b in from_home.get_timeline_data(hours=1)["buckets"]) >= 1
    assert {"schema_registry", "spark_processing"} <= {c["component"] for c in from_home.get_health_panel()["components"]}
    traces = json.loads((home / "traces" / "traces.json").read_text())["traces"]
    assert any(t["status"] == "ERROR" for t in traces)  # the error burst failed some writes
