"""Metric entries of ``metrics/metrics_registry.json`` (schema 2), encoded from readings.

One encoder for the two places that show the metrics facade's metrics as JSON:
``MetricsCollector.export_metrics()`` and the ``JsonFileMetricExporter``, so
both always agree. Layer: beside ``readings`` (it only knows readings).

One meaning per type in every point:

* counter / updowncounter: ``value`` is the series' **cumulative** total at that
  time; ``increment`` is what that recording (or collection) added;
* gauge: ``value`` is the value set;
* histogram / summary: a facade point's ``value`` is one observation; an OTel
  point carries cumulative ``count``, ``sum`` and ``bucket_counts``.

Statistics (``count, sum, mean, min, max, p50, p95, p99``) are over the retained
points' values; for counters over their increments (what each call added).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from monitoring_layer._encode import iso
from monitoring_layer.readings import MetricReading
from monitoring_layer._stats import statistics

__all__ = ["METRICS_SCHEMA_VERSION", "entry_statistics", "facade_entry", "group_by_name", "series_record"]

#: Version 2: counter points are cumulative (``value``) with their ``increment``.
METRICS_SCHEMA_VERSION = 2
_CUMULATIVE_TYPES = ("counter", "updowncounter")


class _IsoStamp:
    """``iso`` with the date-time part cached per second (10,000 points per metric)."""

    __slots__ = ("second", "prefix")

    def __init__(self) -> None:
        self.second = -1
        self.prefix = ""

    def __call__(self, time_ns: int) -> str:
        second, rest = divmod(time_ns, 1_000_000_000)
        if second != self.second:
            self.second = second
            self.prefix = (iso(second * 1_000_000_000) or "")[:19]  # YYYY-MM-DDTHH:MM:SS
        return f"{self.prefix}.{rest // 1000:06d}Z"


def series_record(reading: MetricReading, stamp: _IsoStamp | None = None) -> dict[str, Any]:
    """A facade reading (one with ``points``) as a file series: lifetime count/sum, raw points."""
    stamp = stamp or _IsoStamp()
    raw = reading.points or ()
    total = reading.sum if reading.sum is not None else 0
    record: dict[str, Any] = {"labels": dict(reading.labels), "source": reading.source,
                              "count": reading.count or 0, "sum": total}
    if reading.type == "gauge":
        record["value"] = reading.value
    if reading.type in _CUMULATIVE_TYPES:
        # The total after each retained recording: walk back from the lifetime total.
        running = total
        cumulative = []
        for _time, increment in reversed(raw):
            cumulative.append(running)
            running -= increment
        cumulative.reverse()
        record["points"] = [{"time": stamp(t), "time_unix_nano": t, "value": c, "increment": v}
                            for (t, v), c in zip(raw, cumulative)]
    else:
        record["points"] = [{"time": stamp(t), "time_unix_nano": t, "value": v} for t, v in raw]
    return record


def facade_entry(readings: Sequence[MetricReading], *, name: str = "", kind: str = "", description: str = "",
                 unit: str = "", prometheus_name: str = "", dropped_points: int = 0) -> dict[str, Any]:
    """The entry of one facade metric from its readings (all series; metadata from the first
    reading, else from the keyword arguments: a registered metric with no series yet)."""
    first = readings[0] if readings else None
    stamp = _IsoStamp()
    entry: dict[str, Any] = {
        "type": first.type if first else kind,
        "description": first.description if first else description,
        "unit": first.unit if first else unit,
        "prometheus_name": first.prometheus_name if first else prometheus_name,
        "series": [series_record(r, stamp) for r in readings],
        "dropped_points": max([r.dropped_points or 0 for r in readings], default=dropped_points),
    }
    entry["statistics"] = entry_statistics(entry)
    return entry


def _point_value(point: Mapping[str, Any], cumulative: bool) -> Any:
    return point.get("increment") if cumulative else point.get("value")


def entry_statistics(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Statistics of an entry over all its series' points (counters: over their increments).

    Also ``total_count``/``total_sum`` (lifetime, from the series), ``total`` for
    counters and ``last`` for gauges, and ``series`` (how many).
    """
    kind = str(entry.get("type"))
    cumulative = kind in _CUMULATIVE_TYPES
    series = [s for s in entry.get("series", []) if isinstance(s, Mapping)]
    points = sorted(
        (p for s in series for p in s.get("points", []) if isinstance(p, Mapping)
         and isinstance(_point_value(p, cumulative), (int, float))),
        key=lambda p: p.get("time_unix_nano", 0),
    )
    result: dict[str, Any] = statistics([_point_value(p, cumulative) for p in points])
    result["total_count"] = sum(int(s.get("count", 0)) for s in series)
    result["total_sum"] = sum(s.get("sum", 0) for s in series)
    if kind == "counter":
        result["total"] = result["total_sum"]
    if kind == "gauge":
        result["last"] = points[-1]["value"] if points else None
    result["series"] = len(series)
    return result


def group_by_name(readings: Iterable[MetricReading]) -> dict[str, list[MetricReading]]:
    """Readings grouped by metric name, in order."""
    grouped: dict[str, list[MetricReading]] = {}
    for reading in readings:
        grouped.setdefault(reading.name, []).append(reading)
    return grouped
