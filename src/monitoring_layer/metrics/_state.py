"""What the facade keeps per metric: its series and its bounded, timestamped points.

A metric holds one ``_Series`` per label set (at most the cardinality limit,
plus one overflow series) and one deque of points ``(time_unix_nano, series,
value)`` for the whole metric: the newest ``metrics_max_points``; points older
than ``metrics_retention_days`` are pruned when the metric is read. A series
also keeps exact lifetime ``count`` and ``sum`` (a counter's total), which no
retention touches.

``readings()`` renders a metric's series as ``MetricReading`` s (with their raw
points); ``monitoring_layer._metric_entries`` turns those into the JSON entries
of ``export_metrics()`` and ``metrics/metrics_registry.json``.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.metrics import Observation

from monitoring_layer import _selfmon
from monitoring_layer._units import base_unit
from monitoring_layer.readings import MetricReading

from ._names import MetricType, family_names, otel_instrument_name, prometheus_name
from ._prometheus import rendered_here
from ._stats import statistics

__all__ = ["OVERFLOW_ATTRIBUTES", "OVERFLOW_LABELS", "Metric", "Series"]

#: The one series that takes measurements beyond the cardinality limit. Its
#: OTel attribute is the one the OTel SDK uses for its own overflow, which the
#: Prometheus exporter shows as ``otel_metric_overflow="true"``.
OVERFLOW_LABELS: dict[str, str] = {"otel_metric_overflow": "true"}
OVERFLOW_ATTRIBUTES: dict[str, Any] = {"otel.metric.overflow": True}
OVERFLOW_KEY = (("otel_metric_overflow", "true"),)


class Series:
    """One label set of a metric: its OTel attributes (built once) and lifetime totals."""

    __slots__ = ("key", "labels", "attributes", "count", "total", "last", "pending", "exposition")

    def __init__(self, key: tuple[tuple[str, str], ...], labels: dict[str, str], attributes: Mapping[str, Any]):
        self.key = key
        self.labels = labels
        self.attributes = attributes
        self.count = 0           # lifetime number of recordings
        self.total: float = 0    # lifetime sum (a counter's total)
        self.last: float | None = None
        self.pending: list[float] = []  # histogram/summary values not yet handed to OTel
        #: (sample name, labels, line prefix) of the Prometheus exposition, built at the first scrape
        self.exposition: tuple[str, dict[str, str], str] | None = None


class Metric:
    """A registered metric: type, description, unit, series, points, OTel instrument."""

    __slots__ = ("name", "otel_name", "type", "description", "help_text", "unit", "otel_unit", "mul", "div",
                 "otel_family",
                 "family", "prometheus_name", "series", "points", "lock",
                 "instrument", "pending", "dropped_age", "dropped_reported", "real_series", "overflowed")

    def __init__(self, name: str, metric_type: MetricType, description: str, unit: str, max_points: int) -> None:
        self.name = name
        self.type = metric_type
        self.description = description
        # Prometheus tools flag a missing HELP: OTel gets a generated one.
        self.help_text = description or f"{metric_type.value} {name}" + (f" ({unit})" if unit else "")
        self.unit = unit  # as registered (UCUM): what statistics and the file use
        self.otel_unit, self.mul, self.div = base_unit(unit)  # OTel sees value * mul / div in otel_unit
        # The OTel instrument's name: the registered one, less a unit suffix OTel's base unit would
        # contradict (kafka_processing_time_ms is recorded in s as kafka_processing_time).
        self.otel_name = otel_instrument_name(name, unit)
        self.otel_family = family_names(self.otel_name, metric_type, unit)[0]
        self.family = family_names(name, metric_type, unit)[1]
        self.prometheus_name = prometheus_name(name, metric_type, unit)
        self.series: dict[tuple[tuple[str, str], ...], Series] = {}
        self.points: collections.deque[tuple[int, Series, float]] = collections.deque(maxlen=max_points)
        self.lock = threading.Lock()
        self.instrument: Any = None
        self.pending = 0           # values buffered for OTel (histogram, summary)
        self.dropped_age = 0
        self.dropped_reported = 0  # of the count-bound drops, already counted in _selfmon
        self.real_series = 0
        self.overflowed = 0

    # -- reading -------------------------------------------------------------------

    def to_otel(self, value: float) -> float:
        """``value`` in the unit OTel readers see."""
        if self.mul == 1 and self.div == 1:
            return value
        return value * self.mul / self.div

    def observe_totals(self, _options: Any) -> list[Observation]:
        """Observable-counter callback: each series' exact total (nothing for the Prometheus
        bridge's own collection, which renders this metric from its series)."""
        if rendered_here(self):
            return []
        return [Observation(self.to_otel(s.total), s.attributes) for s in list(self.series.values()) if s.count]

    def observe_last(self, _options: Any) -> list[Observation]:
        """Observable-gauge callback: each series' last value (see ``observe_totals``)."""
        if rendered_here(self):
            return []
        return [Observation(self.to_otel(s.last), s.attributes)
                for s in list(self.series.values()) if s.last is not None]

    def prune(self, horizon_ns: int) -> None:
        """Drop points older than ``horizon_ns``; count what the bounds dropped."""
        with self.lock:
            points = self.points
            aged = 0
            while points and points[0][0] < horizon_ns:
                points.popleft()
                aged += 1
            self.dropped_age += aged
            by_count = self.dropped_by_count()
            new_by_count = by_count - self.dropped_reported
            self.dropped_reported = by_count
        _selfmon.dropped("metrics", "retention_age", aged)
        _selfmon.dropped("metrics", "retention_count", new_by_count)

    def dropped_by_count(self) -> int:
        """Points pushed out by the ``max_points`` bound (caller holds the lock)."""
        recorded = sum(s.count for s in list(self.series.values()))
        return max(0, recorded - len(self.points) - self.dropped_age)

    def matching(self, labels: Mapping[str, Any] | None) -> list[Series]:
        """Series whose labels include every pair of ``labels`` (all of them for None or {})."""
        everything = list(self.series.values())
        if not labels:
            return everything
        wanted = {str(k): v if isinstance(v, str) else str(v) for k, v in labels.items()}
        return [s for s in everything if all(s.labels.get(k) == v for k, v in wanted.items())]

    def points_of(self, series: Iterable[Series]) -> list[tuple[int, Series, float]]:
        """The retained points of ``series``, oldest first."""
        chosen = set(map(id, series))
        with self.lock:
            points = list(self.points)
        if len(chosen) == len(self.series):
            return points
        return [p for p in points if id(p[1]) in chosen]

    def statistics(self, labels: Mapping[str, Any] | None) -> dict[str, Any]:
        series = self.matching(labels)
        return self._statistics(series, self.points_of(series))

    def _statistics(self, series: list[Series], points: list[tuple[int, Series, float]]) -> dict[str, Any]:
        result: dict[str, Any] = statistics([p[2] for p in points])
        result["total_count"] = sum(s.count for s in series)
        result["total_sum"] = sum(s.total for s in series)
        if self.type is MetricType.COUNTER:
            result["total"] = result["total_sum"]
        if self.type is MetricType.GAUGE:
            result["last"] = points[-1][2] if points else None
        result["series"] = len(series)
        return result

    def readings(self, source: str, timestamp_ns: int) -> list[MetricReading]:
        """One reading per series that has recordings: name and unit as registered, cumulative
        ``count``/``sum`` (a counter's ``value`` is its total), exact statistics and the raw
        points retained for the series."""
        series_list = list(self.series.values())
        with self.lock:
            points = list(self.points)
            dropped = self.dropped_by_count() + self.dropped_age
        by_series: dict[int, list[tuple[int, float]]] = {id(s): [] for s in series_list}
        for time_ns, series, value in points:
            by_series.setdefault(id(series), []).append((time_ns, value))
        kind = self.type.value
        result = []
        for s in series_list:
            if not s.count:
                continue
            retained = by_series.get(id(s), [])
            values = [v for _t, v in retained]
            if self.type is MetricType.COUNTER:
                value = s.total
            elif self.type is MetricType.GAUGE:
                value = s.last if s.last is not None else 0.0
            else:  # the most recent observation, else the lifetime mean
                value = values[-1] if values else s.total / s.count
            result.append(MetricReading(
                self.name, kind, float(value), dict(s.labels),  # type: ignore[arg-type]
                unit=self.unit, prometheus_name=self.prometheus_name, description=self.description,
                count=s.count, sum=s.total, statistics=statistics(values),
                timestamp_ns=timestamp_ns, source=source, points=tuple(retained), dropped_points=dropped))
        return result
