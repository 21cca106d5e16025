"""One /metrics for several processes of one home (pre-forking servers): merged, exact, promtool-clean."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitoring_layer.exporters.prometheus_multiprocess import PROCESSES_DIR, MultiprocessCollector
from tests._requires import require

_WORKER = """
    import os, sys
    from monitoring_layer import flush, get_metrics_collector

    metrics = get_metrics_collector()
    n = int(sys.argv[1])
    for i in range(n):
        metrics.increment_counter("jobs_done", labels={"queue": "a"})
        metrics.observe_histogram("job_time", 10.0 * (i % 5), labels={"queue": "a"})
        metrics.observe_summary("payload_size", float(i))
    metrics.set_gauge("queue_depth", n)
    flush()
"""


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if not k.startswith("otel_scope")))
            found[sample.name, labels] = sample.value
    return found


def _merged(home: Path, **kwargs) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MultiprocessCollector(home, **kwargs))
    return generate_latest(registry).decode()


def _promtool_ok(text: str) -> None:
    promtool = require("promtool", "Debian package 'prometheus' provides promtool")
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration
def test_three_processes_merge_into_one_exposition(run_python, home: Path) -> None:
    env = {"MONITORING_PROMETHEUS_MULTIPROCESS": "true", "MONITORING_EXPORT_INTERVAL": "3600"}
    for n in (10, 20, 30):
        run_python(_WORKER.replace("int(sys.argv[1])", str(n)), env=env)
    assert len(list((home / PROCESSES_DIR).glob("*.json"))) == 3
    text = _merged(home, alive=lambda pid, start: True)
    _promtool_ok(text)
    samples = _samples(text)
    assert samples["jobs_done_total", (("queue", "a"),)] == 60
    assert samples["job_time_count", (("queue", "a"),)] == 60
    assert samples["job_time_bucket", (("le", "+Inf"), ("queue", "a"))] == 60
    assert samples["payload_size_count", ()] == 60
    assert samples["payload_size_sum", ()] == sum(range(10)) + sum(range(20)) + sum(range(30))
    # quantiles over the three processes' observations together: 0..9, 0..19, 0..29
    union = sorted([*range(10), *range(20), *range(30)])
    assert samples["payload_size", (("quantile", "0.5"),)] == pytest.approx(union[len(union) // 2 - 1], abs=1)
    depths = sorted(v for (name, labels), v in samples.items() if name == "queue_depth")
    assert depths == [10, 20, 30]  # one series per process (pid label)


def test_dead_processes_keep_counting_and_their_gauges_retire(run_python, home: Path) -> None:
    env = {"MONITORING_PROMETHEUS_MULTIPROCESS": "true", "MONITORING_EXPORT_INTERVAL": "3600"}
    for n in (5, 7):
        run_python(_WORKER.replace("int(sys.argv[1])", str(n)), env=env)  # both have exited
    now = [time.time()]
    collector_kwargs = {"gauge_grace_s": 60, "clock": lambda: now[0]}
    within_grace = _samples(_merged(home, **collector_kwargs))
    assert within_grace["jobs_done_total", (("queue", "a"),)] == 12
    assert sorted(v for (n, _l), v in within_grace.items() if n == "queue_depth") == [5, 7]
    now[0] += 120  # past the grace period: folded into _dead.json, gauges retired
    folded = _samples(_merged(home, **collector_kwargs))
    assert folded["jobs_done_total", (("queue", "a"),)] == 12
    assert folded["job_time_count", (("queue", "a"),)] == 12
    assert folded["payload_size_count", ()] == 12
    assert not [n for (n, _l) in folded if n == "queue_depth"]
    assert sorted(p.name for p in (home / PROCESSES_DIR).glob("*.json")) == ["_dead.json"]
    run_python(_WORKER.replace("int(sys.argv[1])", "3"), env=env)  # a new worker after the folding
    again = _samples(_merged(home, alive=lambda pid, start: True))
    assert again["jobs_done_total", (("queue", "a"),)] == 15
    assert json.loads((home / PROCESSES_DIR / "_dead.json").read_text())["folded_processes"] == 2


@pytest.mark.integration
def test_gunicorn_workers_behind_one_port(tmp_path: Path, home: Path) -> None:
    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
    if not Path(gunicorn).exists():
        require("gunicorn", "gunicorn is in the test extra")
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent("""
        from monitoring_layer import get_metrics_collector

        def application(environ, start_response):
            get_metrics_collector().increment_counter("http_requests", labels={"path": environ["PATH_INFO"]})
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
    """))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        app_port = s.getsockname()[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        metrics_port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONITORING_"))}
    env.update(MONITORING_HOME=str(home), MONITORING_PROMETHEUS_MULTIPROCESS="true",
               MONITORING_EXPORT_INTERVAL="0.5", OTEL_EXPORTER_PROMETHEUS_PORT=str(metrics_port),
               PYTHONPATH=str(tmp_path))
    proc = subprocess.Popen([gunicorn, "-w", "4", "-b", f"127.0.0.1:{app_port}", "--preload", "app:application"],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        served = 0
        while served < 200 and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{app_port}/orders", timeout=5) as resp:
                    served += resp.status == 200
            except OSError:
                time.sleep(0.05)  # gunicorn still starting
        assert served == 200
        # The one port (bound by the preloading master) serves every worker, merged; workers write
        # their state every 0.5 s, so the scrape reaches 200 within a bounded wait.
        total, text = 0.0, ""
        while total < 200 and time.monotonic() < deadline + 30:
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as resp:
                text = resp.read().decode()
            total = _samples(text).get(("http_requests_total", (("path", "/orders"),)), 0.0)
            if total < 200:
                time.sleep(0.2)
        assert total == 200, text
        _promtool_ok(text)
    finally:
        proc.send_signal(signal.SIGTERM)  # graceful: every worker exits and flushes
        output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, output
    # Each worker that served a request built its pipeline and wrote its own state file.
    assert list((home / PROCESSES_DIR).glob("*-*.json")), output
    text = _merged(home, alive=lambda pid, start: False, gauge_grace_s=0)
    _promtool_ok(text)
    assert _samples(text)["http_requests_total", (("path", "/orders"),)] == 200


@pytest.mark.integration
def test_monitoring_layer_serve_home_merges_the_processes_on_metrics(run_python, home: Path) -> None:
    env = {"MONITORING_PROMETHEUS_MULTIPROCESS": "true", "MONITORING_EXPORT_INTERVAL": "3600"}
    for n in (4, 6):
        run_python(_WORKER.replace("int(sys.argv[1])", str(n)), env=env)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "monitoring_layer", "serve", "--home", str(home), "--port", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert "/metrics" in banner, banner
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    _promtool_ok(text)
    assert _samples(text)["jobs_done_total", (("queue", "a"),)] == 10
