"""``ReadingsExporter``: turns each OTel collection into ``MetricReading`` s on a ``ReadingsHub``.

The pipeline puts this exporter on its own ``PeriodicExportingMetricReader``, so
readings are published at every export interval and, synchronously, inside
``Pipeline.flush()`` (which force-flushes the reader). Every point is asked in
**cumulative** temporality whatever the OTLP exporter prefers, so a counter's
reading is its total.

Sources (``ReadingSource``: the metrics facade) add their own readings; the OTel
points of a metric a source ``owns`` are skipped, because the source knows the
name and unit as registered and the exact statistics.

Layer: beside ``readings`` (it only knows the OTel SDK's data model).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogram,
    Gauge,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    Sum,
)
from opentelemetry.sdk.metrics.export import Histogram as HistogramData

from monitoring_layer import _compat, _selfmon
from monitoring_layer.readings import MetricInfo, MetricReading, ReadingSource, ReadingsHub, ReadingType

__all__ = ["ReadingsExporter", "readings_from_metrics_data"]

_CUMULATIVE = {
    kind: AggregationTemporality.CUMULATIVE
    for kind in (Counter, UpDownCounter, Histogram, ObservableCounter, ObservableUpDownCounter, ObservableGauge)
}
_INF = math.inf


class ReadingsExporter(MetricExporter):
    """Publishes each collection's readings on ``hub`` (OTel points plus the sources' readings)."""

    def __init__(self, hub: ReadingsHub, *, on_flush: Callable[[float], bool] | None = None) -> None:
        super().__init__(preferred_temporality=_CUMULATIVE)  # type: ignore[arg-type]
        self.hub = hub
        # What a reader's force_flush (a MeterProvider's) does after its collection was published:
        # the pipeline writes the metrics file there, as a provider's flush writes the other files.
        self._on_flush = on_flush
        self._sources: tuple[ReadingSource, ...] = ()
        self._lock = threading.Lock()

    def add_source(self, source: ReadingSource) -> None:
        """Let ``source`` supply the readings of the metrics it owns."""
        with self._lock:
            if source not in self._sources:
                self._sources = (*self._sources, source)

    def remove_source(self, source: ReadingSource) -> None:
        with self._lock:
            self._sources = tuple(s for s in self._sources if s is not source)

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **_: Any) -> MetricExportResult:
        sources = self._sources
        try:
            readings = readings_from_metrics_data(metrics_data, sources)
        except Exception as exc:  # noqa: BLE001 - a conversion bug must not stop the other readers
            _selfmon.fault("readings", exc, key="otel conversion", strict=False)
            return MetricExportResult.FAILURE
        timestamp = _collection_time(readings)
        catalog: list[MetricInfo] = []
        for source in sources:
            with _selfmon.contained("readings", key=type(source).__name__):
                readings.extend(source.readings(timestamp))
                catalog.extend(source.catalog())
        self.hub.publish(readings, catalog)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        if self._on_flush is None:
            return True
        return self._on_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **_: Any) -> None:
        return None


def readings_from_metrics_data(metrics_data: MetricsData,
                               sources: Iterable[ReadingSource] = ()) -> list[MetricReading]:
    """One reading per OTel data point, skipping metrics a source owns and metrics with no points."""
    sources = tuple(sources)
    pid = os.getpid()
    readings: list[MetricReading] = []
    for resource_metrics in metrics_data.resource_metrics:
        service = resource_metrics.resource.attributes.get("service.name", "unknown_service")
        source = f"{service}/{pid}"
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if any(s.owns(metric.name) for s in sources):
                    continue
                readings.extend(_metric_readings(metric, source))
    return readings


def _metric_readings(metric: Any, source: str) -> Iterable[MetricReading]:
    data = metric.data
    kind: ReadingType
    if isinstance(data, Sum):
        kind = "counter" if data.is_monotonic else "updowncounter"
    elif isinstance(data, Gauge):
        kind = "gauge"
    elif isinstance(data, (HistogramData, ExponentialHistogram)):
        kind = "histogram"
    else:
        return
    unit = metric.unit or ""
    description = metric.description or ""
    prometheus_name = otel_prometheus_name(metric.name, unit, kind)
    for point in data.data_points:
        labels = {str(k): _label(v) for k, v in (point.attributes or {}).items()}
        if kind == "histogram":
            count, total = int(point.count), float(point.sum)
            buckets = _buckets(point) if isinstance(data, HistogramData) else None
            # OTel keeps the lifetime min and max (cumulative): the only exact statistics it has.
            bounds = {"min": _finite(getattr(point, "min", None)), "max": _finite(getattr(point, "max", None))}
            yield MetricReading(metric.name, kind, total / count if count else 0.0, labels, count=count, sum=total,
                                buckets=buckets, statistics=bounds if count else None,
                                timestamp_ns=point.time_unix_nano, unit=unit, description=description,
                                prometheus_name=prometheus_name, source=source)
        else:
            yield MetricReading(metric.name, kind, float(point.value), labels,
                                timestamp_ns=point.time_unix_nano, unit=unit, description=description,
                                prometheus_name=prometheus_name, source=source)


def _buckets(point: Any) -> tuple[tuple[float, int], ...]:
    bounds = (*map(float, point.explicit_bounds), _INF)
    cumulative, running = [], 0
    for bound, n in zip(bounds, point.bucket_counts):
        running += int(n)
        cumulative.append((bound, running))
    return tuple(cumulative)


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_label(v) for v in value) + "]"
    return str(value)


def otel_prometheus_name(name: str, unit: str, kind: str) -> str:
    """The sample name OTel's Prometheus exporter gives an OTel metric (counters end in ``_total``)."""
    family = _compat.sanitize_full_name(name)
    if kind == "counter" and family.endswith("_total"):
        family = family[:-6]
    word = _compat.map_unit(unit) if unit else ""
    if word and not family.endswith("_" + word):
        family += "_" + word
    return family + "_total" if kind == "counter" else family


def _collection_time(readings: list[MetricReading]) -> int:
    return max(r.timestamp_ns for r in readings) if readings else time.time_ns()
