"""Metric readings: the one typed view of metrics that every consumer sees.

At each collection (every ``MONITORING_EXPORT_INTERVAL`` and at ``flush()``) the
pipeline turns what the OTel SDK collected, plus what the metrics facade keeps
(exact statistics, names and units as registered), into a list of
``MetricReading`` and publishes it on a ``ReadingsHub``. The JSON metrics
exporter, the Prometheus bridge, the health view, the alert engine and the
dashboard consume readings; none of them reaches into a facade.

One meaning per type:

* ``counter`` / ``updowncounter``: ``value`` is the series' **cumulative** total
  since the process started recording it (never an increment);
* ``gauge``: ``value`` is the last value set;
* ``histogram`` / ``summary``: ``count`` and ``sum`` are cumulative; ``value`` is
  the most recent observation when the source knows it, else ``sum / count``;
  ``buckets`` holds ``(upper_bound, cumulative_count)`` pairs ending with
  ``+inf`` when the series has buckets.

The metrics facade adds ``statistics`` (exact, over its retained points) and
``points`` (the raw values each recording call passed, e.g. a counter's
increments; ``value`` stays the cumulative total).

Values are in ``unit``, the unit as registered (a facade histogram registered in
``ms`` reads in ms); ``prometheus_name`` is the family name the exposition uses
(base units: ``request_latency_seconds``).
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from monitoring_layer import _lifecycle, _selfmon

__all__ = [
    "READING_TYPES",
    "MetricInfo",
    "MetricReading",
    "ReadingSource",
    "ReadingsCallback",
    "ReadingsHub",
    "reading_statistic",
]

ReadingType = Literal["counter", "updowncounter", "gauge", "histogram", "summary"]
READING_TYPES: tuple[str, ...] = ("counter", "updowncounter", "gauge", "histogram", "summary")
#: Statistic names a reading can answer (see ``reading_statistic``).
STATISTICS: tuple[str, ...] = ("value", "count", "sum", "mean", "min", "max", "p50", "p95", "p99")


@dataclass(frozen=True, slots=True)
class MetricReading:
    """One series of one metric at one collection (see the module docstring for the semantics)."""

    name: str
    type: ReadingType
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)
    unit: str = ""
    prometheus_name: str = ""
    description: str = ""
    count: int | None = None
    sum: float | None = None
    buckets: tuple[tuple[float, int], ...] | None = None
    #: the facade's exact statistics over its retained points (count, sum, mean, min, max,
    #: p50, p95, p99), None for series the facade does not keep
    statistics: Mapping[str, float | None] | None = None
    timestamp_ns: int = 0
    #: ``service/pid`` of the process that recorded the series
    source: str = ""
    #: the facade's retained raw points of the series, oldest first: ``(time_unix_nano, value)``
    #: where value is what the recording call passed (a counter's increment, a gauge's new
    #: value, an observation); None for series the facade does not keep
    points: tuple[tuple[int, float], ...] | None = None
    #: points of this *metric* (all series) dropped by the facade's retention bounds so far
    dropped_points: int | None = None

    def __post_init__(self) -> None:
        if self.type not in READING_TYPES:
            raise ValueError(f"type must be one of {', '.join(READING_TYPES)}, not {self.type!r}")

    @property
    def series_key(self) -> tuple[str, tuple[tuple[str, str], ...], str]:
        """Identity of the series across collections: name, sorted labels, source."""
        return (self.name, tuple(sorted(self.labels.items())), self.source)


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """A metric a source knows, series or not (the catalog: a registered metric with no recording yet)."""

    name: str
    type: ReadingType
    unit: str = ""
    description: str = ""
    prometheus_name: str = ""


def reading_statistic(reading: MetricReading, statistic: str) -> float | None:
    """``statistic`` of ``reading``, or None when the reading cannot answer it.

    ``value``, ``count`` and ``sum`` come from the reading itself; ``mean``, ``min``,
    ``max`` and the percentiles from the facade's exact statistics when present,
    else (``mean``, percentiles) from the cumulative sum/count and buckets.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {', '.join(STATISTICS)}, not {statistic!r}")
    if statistic == "value":
        return reading.value
    stats = reading.statistics
    if stats is not None and stats.get(statistic) is not None:
        return float(stats[statistic])  # type: ignore[arg-type]
    if statistic == "count":
        return None if reading.count is None else float(reading.count)
    if statistic == "sum":
        return reading.sum
    if statistic == "mean":
        if reading.count and reading.sum is not None:
            return reading.sum / reading.count
        return None
    if statistic in ("p50", "p95", "p99") and reading.buckets:
        return _bucket_quantile(int(statistic[1:]) / 100, reading.buckets)
    return None


def _bucket_quantile(q: float, buckets: Sequence[tuple[float, int]]) -> float | None:
    """Prometheus' ``histogram_quantile`` over cumulative ``(upper_bound, count)`` buckets."""
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0
    for upper, cumulative in buckets:
        if cumulative >= rank:
            if math.isinf(upper):
                return lower  # the highest finite bound, as Prometheus does
            in_bucket = cumulative - below
            if in_bucket <= 0:
                return upper
            return lower + (upper - lower) * (rank - below) / in_bucket
        lower, below = upper, cumulative
    return lower


class ReadingSource(Protocol):
    """Something that adds readings at each collection (the metrics facade)."""

    def readings(self, timestamp_ns: int) -> Iterable[MetricReading]:
        """This source's readings now."""

    def owns(self, name: str) -> bool:
        """True when the OTel metric ``name`` is rendered by this source (its OTel points are skipped)."""

    def catalog(self) -> Iterable[MetricInfo]:
        """Every metric this source knows, including those without series yet."""


ReadingsCallback = Callable[[Sequence[MetricReading]], None]


class ReadingsHub:
    """Publishes each collection's readings to subscribers, and keeps the latest.

    A subscriber is called on the collecting thread (the metric reader's, or the
    one calling ``flush()``) with the whole collection; it must not block. A fault
    in a subscriber is contained and counted (``kind="readings"``) and never
    stops the others.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: tuple[ReadingsCallback, ...] = ()
        self._latest: tuple[MetricReading, ...] = ()
        self._catalog: tuple[MetricInfo, ...] = ()
        self._collections = 0
        _HUBS.add(self)

    def subscribe(self, callback: ReadingsCallback) -> Callable[[], None]:
        """Call ``callback(readings)`` at every collection; returns a function that unsubscribes."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        with self._lock:
            self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not callback)

        return unsubscribe

    def publish(self, readings: Sequence[MetricReading], catalog: Iterable[MetricInfo] = ()) -> None:
        """Hand one collection to every subscriber (``catalog``: the sources' known metrics, see ``catalog()``)."""
        readings = tuple(readings)
        with self._lock:
            self._latest = readings
            self._catalog = tuple(catalog)
            self._collections += 1
            subscribers = self._subscribers
        for callback in subscribers:
            try:
                callback(readings)
            except Exception as exc:  # noqa: BLE001 - one subscriber's bug must not starve the others
                _selfmon.fault("readings", exc, key=getattr(callback, "__qualname__", repr(callback)),
                               strict=False)

    def catalog(self) -> tuple[MetricInfo, ...]:
        """The metrics the sources knew at the last collection, with or without series."""
        return self._catalog

    def latest(self) -> tuple[MetricReading, ...]:
        """The readings of the last collection (empty before the first)."""
        return self._latest

    @property
    def collections(self) -> int:
        """How many collections were published."""
        return self._collections


_HUBS: weakref.WeakSet[ReadingsHub] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for hub in list(_HUBS):  # another thread may have held a hub's lock at fork time
        hub._lock = threading.Lock()


_lifecycle.register("readings hubs", after_fork_child=_after_fork_in_child)
