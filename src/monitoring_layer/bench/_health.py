"""Health-check figures: run_all_checks throughput, concurrency of slow checks, probe latency.

Figures only, never asserted: ``monitoring-layer bench`` prints them beside the
targets of the health issue (2,000 checks/s; 50 checks of 100 ms in about
100 ms; a probe with 200 checks under 5 ms).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import urllib.request
from typing import Any

from monitoring_layer import _http
from monitoring_layer.config import resolve_settings
from monitoring_layer.health import HealthCheckManager, mount_health
from monitoring_layer.metrics import MetricsCollector
from monitoring_layer.pipeline import Pipeline

__all__ = ["health_rows"]


def health_rows(*, quick: bool = False) -> list[dict[str, Any]]:
    """One row per figure: ``{"case", "value", "unit", "target", "met", ...}``."""
    rounds = 2 if quick else 7
    requests = 20 if quick else 300
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = Pipeline(resolve_settings(overrides={"home": os.path.join(tmp, "home"), "export_interval_s": 3600}))
        metrics = MetricsCollector(pipeline=pipeline)
        try:
            return [_throughput(metrics, rounds), _slow_checks(metrics, rounds), *_probe(metrics, requests)]
        finally:
            metrics.close()
            pipeline.shutdown()


def _manager(metrics: MetricsCollector) -> HealthCheckManager:
    # The runner is off: each figure times explicit calls only.
    return HealthCheckManager(metrics_collector=metrics, background=False)


def _throughput(metrics: MetricsCollector, rounds: int) -> dict[str, Any]:
    manager = _manager(metrics)
    n = 1_000
    for i in range(n):
        manager.register_check(f"component{i % 20}", f"check{i}", _trivial)
    manager.run_all_checks()  # warm-up: starts the workers
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        manager.run_all_checks()
        seconds.append(time.perf_counter() - start)
    manager.close()
    rate = n / statistics.median(seconds)
    return {"case": f"run_all_checks over {n:,} trivial checks", "value": rate, "unit": "checks/s",
            "target": "at least 2,000 checks/s", "met": rate >= 2_000}


def _trivial() -> bool:
    return True


def _sleep_100ms() -> bool:
    time.sleep(0.1)
    return True


def _slow_checks(metrics: MetricsCollector, rounds: int) -> dict[str, Any]:
    manager = _manager(metrics)
    n = 50
    for i in range(n):
        manager.register_check("slow", f"check{i}", _sleep_100ms)
    walls = []
    for _ in range(rounds):
        start = time.perf_counter()
        manager.run_all_checks()
        walls.append(time.perf_counter() - start)
    manager.close()
    wall_ms = statistics.median(walls) * 1000
    sequential_ms = n * 100.0
    return {"case": f"run_all_checks over {n} checks sleeping 100 ms", "value": wall_ms, "unit": "ms wall",
            "ratio_to_sequential": wall_ms / sequential_ms, "target": "close to 100 ms (sequential: 5,000 ms)",
            "met": wall_ms <= 150}


def _probe(metrics: MetricsCollector, requests: int) -> list[dict[str, Any]]:
    manager = _manager(metrics)
    n = 200
    for i in range(n):
        manager.register_check(f"component{i % 20}", f"check{i}", _trivial)
    manager.run_all_checks()
    in_process = []
    for _ in range(requests):
        start = time.perf_counter()
        manager.probe(None)
        in_process.append(time.perf_counter() - start)
    router = _http.Router()
    mount_health(router, manager)
    server = _http.start_server(router, "127.0.0.1", 0)
    over_http = []
    try:
        for _ in range(requests):
            start = time.perf_counter()
            with urllib.request.urlopen(server.url + "/healthz", timeout=10) as response:
                response.read()
            over_http.append(time.perf_counter() - start)
    finally:
        server.close()
        manager.close()
    http_ms = statistics.median(over_http) * 1000
    return [
        {"case": f"GET /healthz over HTTP with {n} checks (median)", "value": http_ms, "unit": "ms",
         "target": "under 5 ms", "met": http_ms < 5},
        {"case": f"building the /healthz answer for {n} checks (median)",
         "value": statistics.median(in_process) * 1000, "unit": "ms", "target": "", "met": None},
    ]
