"""``JsonFileMetricExporter``: OTel metric points into ``metrics/metrics_registry.json``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics.export import (
    ExponentialHistogram,
    Gauge,
    Histogram,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    Sum,
)

from monitoring_layer import _selfmon
from monitoring_layer.config import get_settings

from ._encode import NS_PER_DAY, attributes, iso, now_ns, resource_service
from ._store import JsonFileStore, prepare_home
from ._writer import BufferedFileWriter

__all__ = ["JsonFileMetricExporter", "METRICS_FILE"]

METRICS_FILE = "metrics/metrics_registry.json"


class JsonFileMetricExporter(BufferedFileWriter, MetricExporter):
    """An OTel ``MetricExporter`` writing to ``$MONITORING_HOME/metrics/metrics_registry.json``.

    Each collection adds one timestamped point per series whose value changed
    since the last one written (an idle counter adds nothing). A series is one
    label set from one process (``source`` is ``service/pid``), so processes
    sharing a home never mix their cumulative totals. Per metric it keeps the
    newest ``max_points`` points from the last ``retention_days``; what is
    dropped is counted in ``monitoring_layer_dropped_total{signal="metrics"}``.

    Sources (the metrics facade) render their own metrics: ``add_source(s)``
    where ``s.owns(name) -> bool``, ``s.file_entries() -> {name: entry}`` and
    ``s.version()`` (a value that changes when the entries would; the file is
    not rewritten while it stays the same).
    OTel points of an owned metric are skipped; at each write the entry's
    series from this process are replaced by the source's (its retained raw
    points, lifetime ``count``/``sum``), series of other processes are kept,
    and ``statistics`` is recomputed over all of them.
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
        self._pending: dict[str, dict[str, Any]] = {}
        self._last: dict[tuple[str, str], Any] = {}
        self._sources: list[Any] = []
        self._sources_version: tuple[Any, ...] = ()
        self._init_writer(JsonFileStore(home / METRICS_FILE, "metrics"),
                          export_interval_s or settings.export_interval_s)

    def add_source(self, source: Any) -> None:
        """Let ``source`` render the metrics it owns (see the class docstring)."""
        with self._buffer_lock:
            if source not in self._sources:
                self._sources.append(source)

    def remove_source(self, source: Any) -> None:
        with self._buffer_lock:
            if source in self._sources:
                self._sources.remove(source)

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **_: Any) -> MetricExportResult:
        if self._stopped:
            return MetricExportResult.FAILURE
        try:
            with self._buffer_lock:
                self._collect(metrics_data)
        except Exception as exc:  # noqa: BLE001
            _selfmon.fault("export", exc, key="metrics encode")
            return MetricExportResult.FAILURE
        if self._pending or self._sources:
            self._mark_dirty()
        return MetricExportResult.SUCCESS

    def _collect(self, metrics_data: MetricsData) -> None:
        pid = os.getpid()
        for resource_metrics in metrics_data.resource_metrics:
            source = f"{resource_service(resource_metrics.resource)}/{pid}"
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    kind = _kind(metric.data)
                    if kind is None or any(s.owns(metric.name) for s in self._sources):
                        continue
                    entry = None
                    for point in metric.data.data_points:
                        labels = attributes(point.attributes)
                        key = json.dumps([labels, source], sort_keys=True)
                        record = _point(kind, point)
                        signature = {k: v for k, v in record.items() if not k.startswith("time")}
                        if self._last.get((metric.name, key)) == signature:
                            continue  # unchanged since the last point written
                        self._last[(metric.name, key)] = signature
                        if entry is None:  # only metrics with a new point make the file due
                            entry = self._pending.setdefault(metric.name, {
                                "type": kind, "description": metric.description or "",
                                "unit": metric.unit or "", "series": {},
                            })
                        series = entry["series"].setdefault(
                            key, {"labels": labels, "source": source, "points": []})
                        points = series["points"]
                        points.append(record)
                        if len(points) >= 2 * self.max_points:  # trim in bulk: amortised O(1) per point
                            excess = len(points) - self.max_points
                            del points[:excess]
                            _selfmon.dropped("metrics", "retention_count", excess)

    def _take_pending(self) -> Any:
        if not self._pending:
            # Sources' metrics change without OTel points: ask them.
            version = tuple(source.version() for source in self._sources)
            if not self._sources or version == self._sources_version:
                return None
            self._sources_version = version
        pending, self._pending = self._pending, {}
        return pending

    def _restore_pending(self, pending: Any) -> None:
        self._sources_version = ()  # the write failed: the sources' entries are due again
        for name, entry in pending.items():
            target = self._pending.setdefault(name, {**entry, "series": {}})
            for key, series in entry["series"].items():
                newer = target["series"].get(key, {"points": []})["points"]
                target["series"][key] = {**series, "points": (series["points"] + newer)[-self.max_points:]}

    def _reset_pending(self) -> None:
        self._pending = {}
        self._sources_version = ()
        self._last = {}

    def _merge(self, doc: dict[str, Any], pending: Any) -> dict[str, Any]:
        metrics = doc.get("metrics") if isinstance(doc.get("metrics"), dict) else {}
        horizon = now_ns() - int(self.retention_days * NS_PER_DAY)
        for name, entry in pending.items():
            current = metrics.get(name) if isinstance(metrics.get(name), dict) else {}
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
            self._apply_retention(name, metric, horizon)
        metrics = {name: m for name, m in metrics.items() if m["series"]}
        self._merge_sources(metrics)  # a registered metric with no series yet is kept
        doc["metrics"] = dict(sorted(metrics.items()))
        doc["updated"] = iso(now_ns())
        return doc

    def _merge_sources(self, metrics: dict[str, Any]) -> None:
        from monitoring_layer.metrics._state import entry_statistics

        for source in list(self._sources):
            with _selfmon.contained("export", key="metrics source"):
                for name, entry in source.file_entries().items():
                    current = metrics.get(name) if isinstance(metrics.get(name), dict) else {}
                    mine = {s["source"] for s in entry["series"]}
                    others = [s for s in current.get("series", []) if isinstance(s, dict)
                              and s.get("source") not in mine and "count" in s]
                    if others:
                        entry = {**entry, "series": others + entry["series"]}
                        entry["statistics"] = entry_statistics(entry)
                    metrics[name] = entry

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


def _kind(data: Any) -> str | None:
    if isinstance(data, Sum):
        return "counter" if data.is_monotonic else "updowncounter"
    if isinstance(data, Gauge):
        return "gauge"
    if isinstance(data, Histogram):
        return "histogram"
    if isinstance(data, ExponentialHistogram):
        return "exponential_histogram"
    return None


def _number(value: float) -> float | int | str:
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        return str(value)
    return value


def _point(kind: str, point: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"time": iso(point.time_unix_nano), "time_unix_nano": point.time_unix_nano}
    if kind in ("counter", "updowncounter", "gauge"):
        record["value"] = _number(point.value)
    elif kind == "histogram":
        record.update(
            count=point.count, sum=_number(point.sum), min=_number(point.min), max=_number(point.max),
            bucket_counts=list(point.bucket_counts), explicit_bounds=list(point.explicit_bounds),
        )
    else:
        record.update(count=point.count, sum=_number(point.sum), min=_number(point.min), max=_number(point.max))
    return record
