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

__all__ = ["build_contenders", "RAW_OTEL", "PROM", "FACADE", "STDLIB", "BARE"]

FACADE = "monitoring-layer"
RAW_OTEL = "raw OTel"
PROM = "prometheus_client"
STDLIB = "stdlib logging via OTel handler"
BARE = "bare call"

COUNTER = "counter +1, one label"
GAUGE = "gauge set, one label"
HISTOGRAM = "histogram observe, one label"
LOG = "log info record"
SPAN = "span start + end"


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
    """The facade contenders (added as each facade lands)."""
    return []


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
    return rows


def memory_scenarios() -> list[tuple[str, str, int]]:
    """``(name, code, n)`` workloads run by ``_memory`` in fresh interpreters (``N`` is ``n``)."""
    return [
        ("raw OTel: N spans", """
from monitoring_layer.pipeline import get_pipeline
tracer = get_pipeline().tracer_provider.get_tracer("bench")
for i in range(N):
    tracer.start_span("op").end()
""", 100_000),
    ]
