"""``/metrics`` scrape latency with 1,000 series, idle and while another thread records without pause.

Two clients per recorder state:

* ``in-process``: urllib in the measured process, a new connection per scrape, no
  compression. Its own socket calls compete for the GIL with the recorder too, so it
  is the pessimistic figure;
* ``prometheus-like``: what a Prometheus server does, from a separate process: one
  kept-alive connection, Prometheus' ``Accept`` header (OpenMetrics) and
  ``Accept-Encoding: gzip``. The time is measured by that process, from sending the
  request to the last byte of the body.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from monitoring_layer import server
from monitoring_layer.config import resolve_settings
from monitoring_layer.metrics import MetricsCollector
from monitoring_layer.pipeline import Pipeline

__all__ = ["PROMETHEUS_ACCEPT", "scrape_rows"]

#: The Accept header Prometheus 2.x/3.x sends by default.
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                     "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")

# The separate process's loop: one warm-up scrape, then ``n`` timed ones on one connection.
_CLIENT = """
import http.client, json, sys, time
host, port, n, accept = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
connection = http.client.HTTPConnection(host, port, timeout=30)
headers = {"Accept": accept, "Accept-Encoding": "gzip"}
times, size = [], 0
for i in range(n + 1):
    start = time.perf_counter()
    connection.request("GET", "/metrics", headers=headers)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise SystemExit(f"/metrics answered {response.status}")
    if i:
        times.append(time.perf_counter() - start)
    size = len(body)
connection.close()
print(json.dumps({"times": times, "bytes": size}))
"""


def scrape_rows(series: int = 1_000, scrapes: int = 20) -> list[dict[str, Any]]:
    """Median and worst scrape time of ``/metrics`` (``series`` counter series): for each client
    (see the module docstring), idle and with a busy recorder thread."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = Pipeline(resolve_settings(overrides={"home": Path(tmp) / "home", "export_interval_s": 3600}))
        metrics = MetricsCollector(pipeline=pipeline)
        for i in range(series):
            metrics.increment_counter("bench_requests", labels={"route": f"/r{i}"})
        handle = server.start(pipeline)
        try:
            for client in ("in-process", "prometheus-like"):
                for busy in (False, True):
                    stop = threading.Event()
                    worker = threading.Thread(target=_record, args=(metrics, series, stop), daemon=True)
                    if busy:
                        worker.start()
                    try:
                        if client == "in-process":
                            times, size = _in_process(handle.url, scrapes)
                        else:
                            times, size = _separate_process(handle.host, handle.port, scrapes)
                    finally:
                        stop.set()
                        if busy:
                            worker.join()
                    rows.append({"series": series, "recorder": "busy" if busy else "idle", "client": client,
                                 "scrapes": scrapes, "median_ms": statistics.median(times) * 1000,
                                 "max_ms": max(times) * 1000, "bytes": size})
        finally:
            handle.close()
            metrics.close()
            pipeline.shutdown()
    return rows


def _in_process(url: str, scrapes: int) -> tuple[list[float], int]:
    times = []
    size = 0
    for _ in range(scrapes):
        start = time.perf_counter()
        with urllib.request.urlopen(url + "/metrics", timeout=10) as response:  # noqa: S310 - loopback
            size = len(response.read())
        times.append(time.perf_counter() - start)
    return times, size


def _separate_process(host: str, port: int, scrapes: int) -> tuple[list[float], int]:
    result = subprocess.run([sys.executable, "-c", _CLIENT, host, str(port), str(scrapes), PROMETHEUS_ACCEPT],
                            capture_output=True, text=True, timeout=300, check=True)
    answer = json.loads(result.stdout)
    return answer["times"], int(answer["bytes"])


def _record(metrics: MetricsCollector, series: int, stop: threading.Event) -> None:
    labels = [{"route": f"/r{i}"} for i in range(series)]
    i = 0
    while not stop.is_set():
        metrics.increment_counter("bench_requests", labels=labels[i % series])
        i += 1
