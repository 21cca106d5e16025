"""The contenders, all on one private pipeline with the default configuration's readers and processors.

Each group compares the same operation: our facade, raw OTel on the same
providers (so the same JSON exporter, Prometheus reader and batch processors
do the same work behind it), and prometheus_client or stdlib logging where
users would otherwise reach for those.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

from opentelemetry._logs import LogRecord, SeverityNumber

from monitoring_layer.pipeline import Pipeline

from ._timing import Contender

__all__ = ["build_contenders", "threaded_contenders", "RAW_OTEL", "PROM", "FACADE", "STDLIB", "BARE"]

FACADE = "monitoring-layer"
RAW_OTEL = "raw OTel"
PROM = "prometheus_client"
STDLIB = "stdlib logging via OTel handler"
BARE = "bare call"
DECORATOR_CALLS = "its two facade calls, made directly"

COUNTER = "counter +1, one label"
GAUGE = "gauge set, one label"
HISTOGRAM = "histogram observe, one label"
LOG = "log info record"
SPAN = "span start + end"
DECORATOR = "decorated no-op call"


def build_contenders(pipeline: Pipeline) -> tuple[list[Contender], Callable[[], None]]:
    """Every contender, and a cleanup function."""
    contenders: list[Contender] = []
    cleanups: list[Callable[[], None]] = []
    contenders += _raw_otel(pipeline)
    contenders += _prometheus_client()
    stdlib, undo = _stdlib_logging(pipeline)
    contenders += stdlib
    cleanups.append(undo)
    contenders += _facades(pipeline)

    def cleanup() -> None:
        for undo_one in cleanups:
            undo_one()

    return contenders, cleanup


def _raw_otel(pipeline: Pipeline) -> list[Contender]:
    meter = pipeline.meter_provider.get_meter("bench.raw")
    counter = meter.create_counter("bench_raw_counter")
    gauge = meter.create_gauge("bench_raw_gauge")
    histogram = meter.create_histogram("bench_raw_histogram", unit="ms")
    attributes = {"service": "api"}
    logger = pipeline.logger_provider.get_logger("bench.raw")
    tracer = pipeline.tracer_provider.get_tracer("bench.raw")

    def emit() -> None:
        logger.emit(LogRecord(body="Request received", severity_number=SeverityNumber.INFO,
                              severity_text="INFO", attributes={"component": "api"}))

    def span() -> None:
        tracer.start_span("process", attributes={"component": "worker"}).end()

    return [
        Contender(COUNTER, RAW_OTEL, lambda: counter.add(1, attributes)),
        Contender(GAUGE, RAW_OTEL, lambda: gauge.set(42, attributes)),
        Contender(HISTOGRAM, RAW_OTEL, lambda: histogram.record(123.45, attributes)),
        Contender(LOG, RAW_OTEL, emit),
        Contender(SPAN, RAW_OTEL, span),
    ]


def _prometheus_client() -> list[Contender]:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    registry = CollectorRegistry()
    counter = Counter("bench_prom_counter", "bench", ["service"], registry=registry)
    gauge = Gauge("bench_prom_gauge", "bench", ["service"], registry=registry)
    histogram = Histogram("bench_prom_histogram", "bench", ["service"], registry=registry)
    return [
        Contender(COUNTER, PROM, lambda: counter.labels("api").inc()),
        Contender(GAUGE, PROM, lambda: gauge.labels("api").set(42)),
        Contender(HISTOGRAM, PROM, lambda: histogram.labels("api").observe(123.45)),
    ]


def _stdlib_logging(pipeline: Pipeline) -> tuple[list[Contender], Callable[[], None]]:
    from opentelemetry.sdk._logs import LoggingHandler

    with warnings.catch_warnings():  # the SDK's handler is deprecated in favour of an instrumentation package
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(level=logging.INFO, logger_provider=pipeline.logger_provider)
    logger = logging.getLogger("monitoring_layer_bench.stdlib")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)

    def undo() -> None:
        logger.removeHandler(handler)

    return [Contender(LOG, STDLIB, lambda: logger.info("Request received"))], undo


def _facades(pipeline: Pipeline) -> list[Contender]:
    """The facade contenders, on the same providers as the raw OTel ones."""
    from monitoring_layer import LogAggregator, MetricsCollector, TracingCollector, TrackExecution

    metrics = MetricsCollector(pipeline=pipeline)
    logs = LogAggregator(pipeline.logger_provider, settings=pipeline.settings)
    traces = TracingCollector(pipeline.tracer_provider, settings=pipeline.settings)
    labels = {"service": "api"}

    def span_pair() -> None:
        traces.end_span(traces.start_span("process", "worker"))

    def bare() -> None:
        return None

    decorated = TrackExecution(component="api", metrics_collector=metrics)(bare)
    # What the decorator records per successful call, made directly: the yardstick of its overhead.
    own_labels = {"component": "api", "function": bare.__qualname__, "status": "success"}

    def its_calls() -> None:
        metrics.increment_counter("function_calls_total", 1, own_labels)
        metrics.observe_histogram("function_duration_ms", 0.001, own_labels)

    return [
        Contender(COUNTER, FACADE, lambda: metrics.increment_counter("bench_requests", labels=labels)),
        Contender(GAUGE, FACADE, lambda: metrics.set_gauge("bench_connections", 42, labels=labels)),
        Contender(HISTOGRAM, FACADE, lambda: metrics.observe_histogram("bench_latency", 123.45, labels=labels)),
        Contender(LOG, FACADE, lambda: logs.info("api", "Request received")),
        Contender(SPAN, FACADE, span_pair),
        Contender(DECORATOR, FACADE, decorated),
        Contender(DECORATOR, BARE, bare),
        Contender(DECORATOR, DECORATOR_CALLS, its_calls),
    ]


def threaded_contenders(contenders: list[Contender], threads: int) -> list[Contender]:
    """The metric contenders again, as groups of their own for ``threads`` threads recording at once.

    A worker pool recording one metric: what the threads cost each other (a lock convoy, GIL
    hand-offs), beside what one call costs. Spans and log records from many threads are rows of
    the sustained section (``bench/_load.py``).
    """
    return [Contender(f"{c.group}, {threads} threads", c.name, c.op)
            for c in contenders if c.group in _THREADED_GROUPS and c.name in (FACADE, RAW_OTEL, PROM)]


_THREADED_GROUPS = (COUNTER, GAUGE, HISTOGRAM)
_GROUP_ORDER = [COUNTER, GAUGE, HISTOGRAM, LOG, SPAN, DECORATOR]
_CONTENDER_ORDER = [FACADE, RAW_OTEL, PROM, STDLIB, BARE, DECORATOR_CALLS]


def _order(row: dict[str, Any]) -> tuple[int, int, str]:
    base = row["group"].rsplit(", ", 1)[0] if row["group"].endswith(" threads") else row["group"]
    group = _GROUP_ORDER.index(base) if base in _GROUP_ORDER else len(_GROUP_ORDER)
    name = _CONTENDER_ORDER.index(row["contender"]) if row["contender"] in _CONTENDER_ORDER else 99
    return group, name, row["group"]


def targets_of(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured figure and whether it is met (only where measured)."""
    ns = {(r["group"], r["contender"]): r["us_per_op"] * 1000 for r in rows}
    found: list[dict[str, Any]] = []

    def ratio(group: str, other: str, at_least: float, label: str) -> None:
        if (group, FACADE) in ns and (group, other) in ns:
            value = ns[(group, other)] / ns[(group, FACADE)]
            found.append({"target": f"{label} >= {at_least:g}x {other}", "measured": f"{value:.2f}x",
                          "met": value >= at_least})

    for group, label in ((COUNTER, "counter"), (GAUGE, "gauge")):
        ratio(group, PROM, 1, label)
        ratio(group, RAW_OTEL, 3, label)
    ratio(HISTOGRAM, RAW_OTEL, 1, "histogram")
    ratio(LOG, RAW_OTEL, 1, "log info")
    ratio(LOG, STDLIB, 2, "log info")
    ratio(SPAN, RAW_OTEL, 0.83, "span pair")
    decorated, bare = ns.get((DECORATOR, FACADE)), ns.get((DECORATOR, BARE))
    calls = ns.get((DECORATOR, DECORATOR_CALLS))
    if decorated and bare and calls:
        value = (decorated - bare) / calls
        found.append({"target": "@TrackExecution overhead <= 1.2x its counter + histogram calls",
                      "measured": f"{value:.2f}x", "met": value <= 1.2})
    for group, floor in ((COUNTER, 100_000), (GAUGE, 100_000), (HISTOGRAM, 100_000), (LOG, 50_000),
                         (SPAN, 10_000)):
        if (group, FACADE) in ns:
            ops = 1e9 / ns[(group, FACADE)]
            found.append({"target": f"{group}: >= {floor:,} ops/s (10x the spec's table)",
                          "measured": f"{ops:,.0f} ops/s", "met": ops >= floor})
    return found


def rows_of(contenders: list[Contender], ns: dict[int, float]) -> list[dict[str, Any]]:
    """Table rows with ratios to the raw OTel and prometheus_client contenders of the same group."""
    by_group: dict[str, dict[str, float]] = {}
    for index, contender in enumerate(contenders):
        by_group.setdefault(contender.group, {})[contender.name] = ns[index]
    rows = []
    for index, contender in enumerate(contenders):
        group = by_group[contender.group]
        per_op = ns[index]
        rows.append({
            "group": contender.group,
            "contender": contender.name,
            "ops_per_s": 1e9 / per_op,
            "us_per_op": per_op / 1000,
            "vs_raw_otel": group[RAW_OTEL] / per_op if RAW_OTEL in group and contender.name != RAW_OTEL else None,
            "vs_prometheus_client": group[PROM] / per_op if PROM in group and contender.name != PROM else None,
        })
    return sorted(rows, key=_order)


def memory_scenarios() -> list[tuple[str, str, int]]:
    """``(name, code, n)`` workloads run by ``_memory`` in fresh interpreters (``N`` is ``n``)."""
    return [
        ("increment_counter: N increments over 1,000 label sets", """
from monitoring_layer import get_metrics_collector
metrics = get_metrics_collector()
labels = [{"partition": str(p)} for p in range(1000)]
for i in range(N):
    metrics.increment_counter("bench_messages", labels=labels[i % 1000])
""", 1_000_000),
        ("logs.info: N records", """
from monitoring_layer import get_log_aggregator
logs = get_log_aggregator()
for i in range(N):
    logs.info("api", "Request received", request=i)
""", 1_000_000),
        ("start_span + end_span: N spans", """
from monitoring_layer import get_tracing_collector
traces = get_tracing_collector()
for i in range(N):
    traces.end_span(traces.start_span("process", "worker"))
""", 100_000),
    ]
