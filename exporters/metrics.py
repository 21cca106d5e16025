"""``JsonFileMetricExporter``: metric readings into ``metrics/metrics_registry.json`` (schema 2).

The exporter consumes readings only (``monitoring_layer.readings``): in a
pipeline it subscribes to ``Pipeline.readings``; used as a plain OTel
``MetricExporter`` (``OTEL_METRICS_EXPORTER=monitoring_json``) it turns each
``MetricsData`` into readings first. It imports nothing from the facades.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData

from monitoring_layer import _selfmon
from monitoring_layer._metric_entries import (
    METRICS_SCHEMA_VERSION,
    entry_statistics,
    facade_entry,
    group_by_name,
)
from monitoring_layer._readings_export import readings_from_metrics_data
from monitoring_layer.config import get_settings
from monitoring_layer.readings import MetricInfo, MetricReading

from ._encode import NS_PER_DAY, iso, now_ns
from ._store import JsonFileStore, prepare_home
from ._writer import BufferedFileWriter

__all__ = ["JsonFileMetricExporter", "METRICS_FILE", "METRICS_SCHEMA_VERSION", "migrate_metrics_document"]

METRICS_FILE = "metrics/metrics_registry.json"
_CUMULATIVE = ("counter", "updowncounter")


class JsonFileMetricExporter(BufferedFileWriter, MetricExporter):
    """Writes metric readings to ``$MONITORING_HOME/metrics/metrics_registry.json``.

    ``consume(readings)`` takes one collection (it is a ``ReadingsHub``
    subscriber); ``export(metrics_data)`` does the same for a plain OTel reader.
    A series is one label set from one process (``source`` is ``service/pid``),
    so processes sharing a home never mix their cumulative totals.

    * Readings with raw ``points`` (the metrics facade's) replace this
      process's series of their metric at each write: retained raw points,
      lifetime ``count``/``sum``; series of other processes are kept and
      ``statistics`` is recomputed over all of them.
    * Other readings (OTel instruments, self-metrics) add one point per
      collection to their series when its value changed (an idle counter adds
      nothing); per metric the newest ``max_points`` points from the last
      ``retention_days`` are kept, what is dropped is counted in
      ``monitoring_layer_dropped_total{signal="metrics"}``.

    Counter points always carry the cumulative ``value`` and the ``increment``
    since the previous point (docs/files.md).
    """

    signal = "metrics"

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        max_points: int | None = None,
        retention_days: float | None = None,
        export_interval_s: float | None = None,
    ) -> None:
        MetricExporter.__init__(self)
        settings = get_settings()
        home = prepare_home(Path(home) if home is not None else settings.home, "metrics")
        self.max_points = max_points or settings.metrics_max_points
        self.retention_days = retention_days or settings.metrics_retention_days
        self._pending: dict[str, dict[str, Any]] = {}   # OTel-style entries: new points
        self._facade: dict[str, dict[str, Any]] = {}    # facade entries of this process: replace
        self._facade_signatures: dict[str, Any] = {}
        self._empty: dict[str, dict[str, Any]] = {}     # known metrics without series: added if absent
        self._declared: tuple[str, ...] = ()
        self._last: dict[tuple[str, str], Any] = {}
        self._init_writer(JsonFileStore(home / METRICS_FILE, "metrics", schema_version=METRICS_SCHEMA_VERSION,
                                        migrate=migrate_metrics_document),
                          export_interval_s or settings.export_interval_s)

    def consume(self, readings: Sequence[MetricReading], catalog: Sequence[MetricInfo] = ()) -> None:
        """Take one collection's readings; the file is written at the interval or ``flush()``.

        ``catalog`` (``ReadingsHub.catalog()``) lists metrics known without series:
        a registered metric is in the file before its first recording.
        """
        if self._stopped:
            return
        try:
            with self._buffer_lock:
                changed = self._collect(readings)
                changed = self._declare(catalog, {r.name for r in readings}) or changed
        except Exception as exc:  # noqa: BLE001
            _selfmon.fault("export", exc, key="metrics encode")
            return
        if changed:
            self._mark_dirty()

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **_: Any) -> MetricExportResult:
        if self._stopped:
            return MetricExportResult.FAILURE
        try:
            readings = readings_from_metrics_data(metrics_data)
        except Exception as exc:  # noqa: BLE001
            _selfmon.fault("export", exc, key="metrics encode")
            return MetricExportResult.FAILURE
        self.consume(readings)
        return MetricExportResult.SUCCESS

    def _collect(self, readings: Sequence[MetricReading]) -> bool:
        changed = False
        facade: list[MetricReading] = []
        for reading in readings:
            if reading.points is not None:
                facade.append(reading)
            elif self._add_point(reading):
                changed = True
        for name, group in group_by_name(facade).items():
            signature = tuple((r.series_key, r.count, r.sum, len(r.points or ()),
                               (r.points or ((0, 0.0),))[-1][0], r.dropped_points) for r in group)
            if self._facade_signatures.get(name) != signature:
                self._facade_signatures[name] = signature
                self._facade[name] = facade_entry(group)
                changed = True
        return changed

    def _declare(self, catalog: Sequence[MetricInfo], seen: set[str]) -> bool:
        empty = [info for info in catalog if info.name not in seen]
        signature = tuple(sorted(info.name for info in empty))
        if not empty or self._declared == signature:
            return False
        self._declared = signature
        for info in empty:
            self._empty[info.name] = facade_entry([], kind=info.type, description=info.description,
                                                  unit=info.unit, prometheus_name=info.prometheus_name)
        return True

    def _add_point(self, reading: MetricReading) -> bool:
        labels = dict(reading.labels)
        key = json.dumps([labels, reading.source], sort_keys=True)
        record = _point(reading)
        signature = {k: v for k, v in record.items() if not k.startswith("time")}
        previous = self._last.get((reading.name, key))
        if previous == signature:
            return False  # unchanged since the last point written
        if reading.type in _CUMULATIVE and isinstance(record.get("value"), (int, float)):
            before = previous.get("value") if previous else 0
            record["increment"] = record["value"] - before if isinstance(before, (int, float)) else record["value"]
        self._last[(reading.name, key)] = signature
        entry = self._pending.setdefault(reading.name, {
            "type": reading.type, "description": reading.description, "unit": reading.unit, "series": {},
        })
        series = entry["series"].setdefault(key, {"labels": labels, "source": reading.source, "points": []})
        points = series["points"]
        points.append(record)
        if len(points) >= 2 * self.max_points:  # trim in bulk: amortised O(1) per point
            excess = len(points) - self.max_points
            del points[:excess]
            _selfmon.dropped("metrics", "retention_count", excess)
        return True

    def _take_pending(self) -> Any:
        if not self._pending and not self._facade and not self._empty:
            return None
        pending = (self._pending, self._facade, self._empty)
        self._pending, self._facade, self._empty = {}, {}, {}
        return pending

    def _restore_pending(self, pending: Any) -> None:
        otel, facade, empty = pending
        self._facade = {**facade, **self._facade}  # newer entries win
        self._empty = {**empty, **self._empty}
        for name, entry in otel.items():
            target = self._pending.setdefault(name, {**entry, "series": {}})
            for key, series in entry["series"].items():
                newer = target["series"].get(key, {"points": []})["points"]
                target["series"][key] = {**series, "points": (series["points"] + newer)[-self.max_points:]}

    def _reset_pending(self) -> None:
        self._pending = {}
        self._facade = {}
        self._facade_signatures = {}
        self._empty = {}
        self._declared = ()
        self._last = {}

    def _merge(self, doc: dict[str, Any], pending: Any) -> dict[str, Any]:
        otel, facade, empty = pending
        found = doc.get("metrics")
        metrics: dict[str, Any] = found if isinstance(found, dict) else {}
        horizon = now_ns() - int(self.retention_days * NS_PER_DAY)
        for name, entry in otel.items():
            current: dict[str, Any] = metrics[name] if isinstance(metrics.get(name), dict) else {}
            by_key = {
                json.dumps([s.get("labels", {}), s.get("source", "")], sort_keys=True): s
                for s in current.get("series", []) if isinstance(s, dict)
            }
            for key, series in entry["series"].items():
                target = by_key.setdefault(key, {"labels": series["labels"], "source": series["source"], "points": []})
                target["points"] = list(target.get("points", [])) + series["points"]
            metrics[name] = {
                "type": entry["type"], "description": entry["description"], "unit": entry["unit"],
                "series": list(by_key.values()),
            }
        for name, metric in metrics.items():
            # Facade entries keep their own bounds per process (a series' lifetime count/sum must
            # never lose another process's series); retention here is for OTel-style entries.
            if name not in facade and "statistics" not in metric:
                self._apply_retention(name, metric, horizon)
        metrics = {name: m for name, m in metrics.items() if m["series"] or "statistics" in m}
        for name, entry in facade.items():
            current = metrics[name] if isinstance(metrics.get(name), dict) else {}
            mine = {s["source"] for s in entry["series"]}
            others = [s for s in current.get("series", []) if isinstance(s, dict)
                      and s.get("source") not in mine and "count" in s]
            if others:
                entry = {**entry, "series": others + entry["series"]}
                entry["statistics"] = entry_statistics(entry)
            metrics[name] = entry
        for name, entry in empty.items():
            metrics.setdefault(name, entry)
        doc["metrics"] = dict(sorted(metrics.items()))
        doc["updated"] = iso(now_ns())
        return doc

    def _apply_retention(self, name: str, metric: dict[str, Any], horizon: int) -> None:
        times: list[int] = []
        for series in metric.get("series", []):
            before = len(series["points"])
            series["points"] = [p for p in series["points"] if p.get("time_unix_nano", 0) >= horizon]
            _selfmon.dropped("metrics", "retention_age", before - len(series["points"]))
            times.extend(p["time_unix_nano"] for p in series["points"])
        if len(times) > self.max_points:
            cutoff = sorted(times, reverse=True)[self.max_points - 1]
            budget = self.max_points - sum(1 for t in times if t > cutoff)  # ties at the cutoff
            for series in metric["series"]:
                kept = []
                for p in series["points"]:
                    if p["time_unix_nano"] > cutoff:
                        kept.append(p)
                    elif p["time_unix_nano"] == cutoff and budget > 0:
                        kept.append(p)
                        budget -= 1
                _selfmon.dropped("metrics", "retention_count", len(series["points"]) - len(kept))
                series["points"] = kept
        metric["series"] = [s for s in metric.get("series", []) if s["points"]]


def _number(value: float) -> float | int | str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _point(reading: MetricReading) -> dict[str, Any]:
    t = reading.timestamp_ns
    record: dict[str, Any] = {"time": iso(t), "time_unix_nano": t}
    if reading.type != "histogram":
        record["value"] = _number(reading.value)
        return record
    record["count"] = reading.count or 0
    record["sum"] = _number(reading.sum or 0.0)
    stats = reading.statistics or {}
    for bound in ("min", "max"):
        if stats.get(bound) is not None:
            record[bound] = _number(float(stats[bound]))  # type: ignore[arg-type]
    if reading.buckets:
        counts, below = [], 0
        for _upper, cumulative in reading.buckets:
            counts.append(cumulative - below)
            below = cumulative
        record["bucket_counts"] = counts
        record["explicit_bounds"] = [upper for upper, _n in reading.buckets[:-1]]
    return record


def migrate_metrics_document(doc: dict[str, Any]) -> dict[str, Any]:
    """A schema 1 metrics document as schema 2: counter points become cumulative.

    In schema 1 the facade's counter points held increments (its series carry
    ``count``/``sum``) while OTel counter points held cumulative values. In
    schema 2 every counter point has the cumulative ``value`` and its ``increment``.
    """
    metrics = doc.get("metrics")
    if isinstance(metrics, dict):
        for entry in metrics.values():
            if not isinstance(entry, dict) or entry.get("type") not in _CUMULATIVE:
                continue
            for series in entry.get("series", []):
                if isinstance(series, dict) and isinstance(series.get("points"), list):
                    _migrate_counter_points(series)
    doc["schema_version"] = METRICS_SCHEMA_VERSION
    return doc


def _migrate_counter_points(series: dict[str, Any]) -> None:
    points = [p for p in series["points"] if isinstance(p, dict) and isinstance(p.get("value"), (int, float))]
    if "count" in series and isinstance(series.get("sum"), (int, float)):  # the facade's: increments
        running = series["sum"]
        for point in reversed(points):
            increment = point["value"]
            point["increment"], point["value"] = increment, running
            running -= increment
    else:  # OTel's: already cumulative
        before = 0
        for point in points:
            point["increment"] = point["value"] - before
            before = point["value"]
