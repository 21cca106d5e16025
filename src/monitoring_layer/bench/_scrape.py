"""``/metrics`` scrape latency with 1,000 series while another thread records without pause."""

from __future__ import annotations

import statistics
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

__all__ = ["scrape_rows"]


def scrape_rows(series: int = 1_000, scrapes: int = 20) -> list[dict[str, Any]]:
    """Median and worst scrape time of ``/metrics`` (``series`` counter series), idle and with a busy recorder."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = Pipeline(resolve_settings(overrides={"home": Path(tmp) / "home", "export_interval_s": 3600}))
        metrics = MetricsCollector(pipeline=pipeline)
        for i in range(series):
            metrics.increment_counter("bench_requests", labels={"route": f"/r{i}"})
        handle = server.start(pipeline)
        try:
            for busy in (False, True):
                stop = threading.Event()
                worker = threading.Thread(target=_record, args=(metrics, series, stop), daemon=True)
                if busy:
                    worker.start()
                times = []
                size = 0
                for _ in range(scrapes):
                    start = time.perf_counter()
                    with urllib.request.urlopen(handle.url + "/metrics", timeout=10) as response:  # noqa: S310
                        size = len(response.read())
                    times.append(time.perf_counter() - start)
                stop.set()
                if busy:
                    worker.join()
                rows.append({"series": series, "recorder": "busy" if busy else "idle", "scrapes": scrapes,
                             "median_ms": statistics.median(times) * 1000, "max_ms": max(times) * 1000,
                             "bytes": size})
        finally:
            handle.close()
            metrics.close()
            pipeline.shutdown()
    return rows


def _record(metrics: MetricsCollector, series: int, stop: threading.Event) -> None:
    labels = [{"route": f"/r{i}"} for i in range(series)]
    i = 0
    while not stop.is_set():
        metrics.increment_counter("bench_requests", labels=labels[i % series])
        i += 1
