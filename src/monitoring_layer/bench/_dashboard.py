"""Dashboard rows: ``get_dashboard_summary()`` and ``GET /api/summary`` at growing trace counts.

Each size gets a fresh private pipeline with 100 metrics, 1,000 log records and
N traces (two spans each), recorded after the dashboard was built (so its
per-minute aggregates are fed as the application would feed them). The figure is
the median time of ``calls`` calls; ``growth`` compares each size with the first.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.context import Context

from monitoring_layer._http import Router, start_server
from monitoring_layer.config import resolve_settings
from monitoring_layer.dashboard import ObservabilityDashboard, mount_dashboard
from monitoring_layer.logging import LogAggregator
from monitoring_layer.metrics import MetricsCollector
from monitoring_layer.pipeline import Pipeline
from monitoring_layer.tracing import TracingCollector

__all__ = ["dashboard_rows"]


def _seed(pipeline: Pipeline, metrics: MetricsCollector, logs: LogAggregator, n_traces: int) -> None:
    for i in range(100):
        name = f"bench_metric_{i}"
        metrics.register_metric(name, "histogram" if i % 2 else "counter", unit="ms" if i % 2 else "")
        for j in range(10):
            if i % 2:
                metrics.observe_histogram(name, float(j))
            else:
                metrics.increment_counter(name, labels={"k": str(j % 3)})
    for i in range(1_000):
        logs.log("ERROR" if i % 20 == 0 else "INFO", f"component{i % 10}", f"record {i}")
    tracer = pipeline.tracer_provider.get_tracer("bench.dashboard")
    now = time.time_ns()
    span_ns = 3_600 * 10**9 // max(n_traces, 1)  # spread over the last hour
    for i in range(n_traces):
        start = now - (n_traces - i) * span_ns
        root = tracer.start_span("GET /bench", context=Context(), start_time=start,
                                 attributes={"monitoring.service": f"service{i % 5}"})
        child = tracer.start_span("query", context=otel_trace.set_span_in_context(root), start_time=start)
        if i % 25 == 0:
            child.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR))
        child.end(end_time=start + 2_000_000)
        root.end(end_time=start + 3_000_000 + (i % 100) * 10_000)


def _more_traces(pipeline: Pipeline, n: int) -> None:
    tracer = pipeline.tracer_provider.get_tracer("bench.dashboard")
    now = time.time_ns()
    for i in range(n):
        span = tracer.start_span("GET /more", context=Context(), start_time=now - 10**9 + i,
                                 attributes={"monitoring.service": "service0"})
        span.end(end_time=now - 10**9 + i + 1_000_000)


def _median_ms(call: Any, calls: int) -> float:
    call()  # warm
    samples = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - started) / 1e6)
    return statistics.median(samples)


def dashboard_rows(trace_counts: Sequence[int] = (1_000, 10_000), calls: int = 50) -> list[dict[str, Any]]:
    """``[{"operation", "traces", "ms_per_call", "growth"}]`` for the summary in-process and over HTTP."""
    rows: list[dict[str, Any]] = []
    for n in trace_counts:
        with tempfile.TemporaryDirectory() as tmp:
            settings = resolve_settings(overrides={"home": os.path.join(tmp, "home"), "export_interval_s": 3600,
                                                   "traces_max_traces": max(10_000, n)})
            pipeline = Pipeline(settings)
            metrics = MetricsCollector(pipeline=pipeline)
            logs = LogAggregator(pipeline.logger_provider, settings=settings)
            traces = TracingCollector(pipeline.tracer_provider, settings=settings, propagate_to_threads=False)
            dashboard = ObservabilityDashboard(metrics, logs, traces)
            try:
                _seed(pipeline, metrics, logs, n)
                if dashboard.get_dashboard_summary()["counts"]["traces"] != n:
                    raise AssertionError("the dashboard did not count every trace")
                router = Router()
                mount_dashboard(router, dashboard, environ={})
                with start_server(router, "127.0.0.1", 0) as server:
                    url = server.url + "/api/summary"

                    def fetch() -> None:
                        with urllib.request.urlopen(url, timeout=10) as resp:
                            resp.read()

                    rows.append({"operation": "get_dashboard_summary()", "traces": n,
                                 "ms_per_call": _median_ms(dashboard.get_dashboard_summary, calls)})
                    rows.append({"operation": "GET /api/summary", "traces": n, "ms_per_call": _median_ms(fetch, calls)})
                pipeline.flush()
                home = ObservabilityDashboard.from_home(settings.home)
                started = time.perf_counter_ns()
                home.get_dashboard_summary()  # parses the files once
                rows.append({"operation": "from_home: first summary (parses the files)", "traces": n,
                             "ms_per_call": (time.perf_counter_ns() - started) / 1e6})
                rows.append({"operation": "from_home: summary, files unchanged", "traces": n,
                             "ms_per_call": _median_ms(home.get_dashboard_summary, calls)})
                _more_traces(pipeline, 100)
                pipeline.flush()
                started = time.perf_counter_ns()
                home.get_dashboard_summary()  # reads the changed file, parses only its new lines
                rows.append({"operation": "from_home: summary after 100 new traces were written", "traces": n,
                             "ms_per_call": (time.perf_counter_ns() - started) / 1e6})
            finally:
                metrics.close()
                pipeline.shutdown()
    first: dict[str, float] = {}
    for row in rows:
        base = first.setdefault(row["operation"], row["ms_per_call"])
        row["growth"] = row["ms_per_call"] / base if base else None
    return rows
