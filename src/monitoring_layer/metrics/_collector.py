"""``MetricsCollector``: the spec's metrics API as a thin facade over OTel instruments.

Hot path: a record call is one dict lookup keyed by ``(name, tuple(labels.items()))``
(label values that are already strings) that finds the series, then its update
(``_add``, ``_set``, ``_observe``): a type check, and the series changed under the
metric's lock, plus one point appended to the metric's bounded deque.
``recorder(name, labels)`` hands a caller (a hot loop, the decorators) a function
that makes the same update without the lookup. Nothing calls into the OTel SDK there:

* counters and gauges are OTel *observable* instruments whose callbacks
  report each series' exact total / last value when a reader collects;
* histograms and summaries are OTel histograms; their values wait in a
  per-series buffer and are recorded into the histogram when any reader
  collects (a drain callback runs before the SDK aggregates). Every reader on
  the MeterProvider (Prometheus, the JSON file, OTLP, a user's own) therefore
  sees every value. The buffer is bounded: once about ``PENDING_LIMIT`` values
  wait in the collector (no reader collected for a while), each further call
  hands up to ``DRAIN_CHUNK`` values of its own series to OTel itself, so the
  caller pays what a raw ``Histogram.record`` costs, never a long pause.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation

from monitoring_layer import _compat, _selfmon, config
from monitoring_layer._safe import safe_text
from monitoring_layer._scrub import REDACTED, Scrubber
from monitoring_layer._units import ucum_unit
from monitoring_layer._version import __version__
from monitoring_layer.config import Settings
from monitoring_layer.errors import UnknownMetricError
from monitoring_layer.types import MetricStatistics
from monitoring_layer._encode import iso, now_ns, resource_service
from monitoring_layer._metric_entries import METRICS_SCHEMA_VERSION, facade_entry, group_by_name
from monitoring_layer.readings import MetricInfo, MetricReading

from ._names import MetricType, check_label_name, check_name, parse_type, sample_names
from ._prometheus import PrometheusBridge, PullPrometheusReader, facade_view, render_exposition
from ._state import OVERFLOW_ATTRIBUTES, OVERFLOW_KEY, OVERFLOW_LABELS, Metric, Series
from ._values import checked_value

__all__ = ["DRAIN_CHUNK", "METER_NAME", "PENDING_LIMIT", "MetricsCollector", "UnknownMetricError"]

#: Instrumentation scope of the facade's instruments (``otel_scope_name`` in Prometheus).
METER_NAME = "monitoring_layer.metrics"
#: Histogram/summary values buffered per metric before the recording thread hands them to OTel.
PENDING_LIMIT = 524_288  # about 16 MB of references and floats at most
#: Values a recording call hands to OTel at most, once the limit is reached.
DRAIN_CHUNK = 1024
# The fast path's cache maps (name, labels as passed) to a series; a series has
# one entry per label order its callers use. Cleared when it outgrows this
# many entries per series (someone passes labels in ever new orders).
_CACHE_ENTRIES_PER_SERIES = 4
_NUMBERS = frozenset({int, float})
_COLLECTORS: weakref.WeakSet[MetricsCollector] = weakref.WeakSet()  # renewed after fork (see _global)
_GOOD_LABELS: set[str] = set()  # label names already validated (bounded)
_INF = math.inf
# The fast paths take ints and floats within float range: an int beyond it (10**400) passes
# `< inf` but cannot be added to a float total; the slow path drops it as a contained fault.
_MAX = sys.float_info.max
_time_ns = time.time_ns
# Locks on the recording path: the critical sections of the fast paths make no call (``points +=
# ((...),)``, not ``points.append(...)``). CPython hands the GIL to another thread only where the
# bytecode checks for it: at calls and loop jumps, never inside a block of attribute stores and
# arithmetic. So no thread is switched out while holding a metric's lock, and threads recording
# the same metric at once never wait for each other. With one call inside, 8 threads incrementing
# one counter convoyed on the lock: 7.2 µs per increment against 1.5 µs from one thread
# (docs/benchmarks.md, step 19). Should an interpreter switch threads elsewhere, the cost is that
# convoy again, never a wrong count: the lock still guards every update.
_NS_PER_DAY = 86_400 * 1_000_000_000
# OTel's default explicit bucket boundaries (the SDK's, repeated: it keeps them private).
_DEFAULT_BOUNDS = (0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0,
                   7500.0, 10000.0)


class MetricsCollector:
    """Counters, gauges, histograms and summaries on an OTel ``MeterProvider``.

    Build it on a ``Pipeline`` (``MetricsCollector(pipeline=p)``: its provider,
    settings, Prometheus registry and JSON file) or on any ``MeterProvider``
    (``MetricsCollector(provider)``: it then attaches its own
    ``PrometheusMetricReader`` on a private registry for
    ``export_prometheus_format()`` and writes no file). ``get_metrics_collector()``
    returns the process-wide one on ``get_pipeline()``.

    >>> metrics = get_metrics_collector()  # doctest: +SKIP
    >>> metrics.increment_counter("request_count", labels={"method": "GET"})  # doctest: +SKIP
    """

    def __init__(self, meter_provider: Any = None, *, pipeline: Any = None, settings: Settings | None = None) -> None:
        if pipeline is not None:
            meter_provider = meter_provider or pipeline.meter_provider
            settings = settings or pipeline.settings
        if meter_provider is None:
            raise TypeError("MetricsCollector needs a meter_provider or a pipeline "
                            "(get_metrics_collector() gives the process-wide one)")
        self.settings = settings or config.get_settings()
        self.meter_provider = meter_provider
        # A second collector on the same provider gets its own meter (scope
        # attribute monitoring_layer.collector=<n>): in a shared meter its
        # instruments would be refused as duplicates and their callbacks lost.
        self._scope_attributes = _scope_attributes(meter_provider)
        self._meter = meter_provider.get_meter(METER_NAME, __version__, attributes=self._scope_attributes or None)
        self._lock = threading.RLock()
        self._metrics: dict[str, Metric] = {}
        self._claimed: dict[str, str] = {}  # lower-cased OTel and Prometheus names -> metric name
        self._claimed_samples: dict[str, str] = {}  # lower-cased exposition sample names -> metric name
        self._otel_names: dict[str, str] = {}  # lower-cased OTel instrument name -> registered name
        self._scrubber = Scrubber(self.settings.logs_redact_keys, max_length=_MAX_LABEL_LENGTH)
        self._buckets: dict[str, tuple[float, ...]] = {}  # histograms registered with their own buckets
        self._buffered: list[Metric] = []  # histogram and summary metrics
        self._caches: dict[MetricType, dict[tuple[Any, ...], tuple[Metric, Series]]] = {t: {} for t in MetricType}
        self._counters = self._caches[MetricType.COUNTER]
        self._gauges = self._caches[MetricType.GAUGE]
        self._histograms = self._caches[MetricType.HISTOGRAM]
        self._summaries = self._caches[MetricType.SUMMARY]
        self._max_points = self.settings.metrics_max_points
        self._cardinality = self.settings.metrics_cardinality_limit
        self._source = f"{self.settings.service_name or 'unknown_service'}/{_pid()}"
        self._pending = 0  # histogram/summary values waiting for OTel, all metrics (approximate)
        self._series_count = 0
        self._own_reader = None
        self._readings_exporter: Any = None

        self.enabled = bool(getattr(pipeline, "enabled", True)) and not self.settings.sdk_disabled
        if not self.enabled:
            # OTEL_SDK_DISABLED: record nothing; queries answer, empty.
            self.increment_counter = self.set_gauge = _ignore  # type: ignore[method-assign]
            self.observe_histogram = self.observe_summary = _ignore  # type: ignore[method-assign]

        if pipeline is not None and getattr(pipeline, "prometheus_bridge", None) is not None:
            self._bridge: PrometheusBridge = pipeline.prometheus_bridge
            self._source = _source_of(pipeline)
        else:
            self._bridge = PrometheusBridge()
            if self.enabled and hasattr(meter_provider, "add_metric_reader"):
                self._own_reader = PullPrometheusReader(registry=self._bridge.otel_registry)
                meter_provider.add_metric_reader(self._own_reader)
        self._bridge.add_source(self)
        _COLLECTORS.add(self)
        # The pipeline's readings carry this collector's series as registered.
        self._readings_exporter = getattr(pipeline, "readings_exporter", None)
        if self._readings_exporter is not None:
            self._readings_exporter.add_source(self)
        # Hands buffered histogram values to OTel at every collection, before
        # the SDK aggregates (it runs the callbacks first). Reports nothing.
        self._meter.create_observable_gauge(
            "monitoring_layer_metrics_drain", callbacks=[self._drain_callback],
            description="Internal: hands buffered histogram values to OTel; has no points.")

    # ------------------------------------------------------------------ registration

    def register_metric(self, name: str, metric_type: MetricType | str, description: str = "",
                        unit: str = "", *, buckets: Sequence[float] | None = None) -> None:
        """Declare a metric. Same name and type again: no-op; another type: ``ValueError``.

        ``unit`` is stored in OTel/UCUM spelling (``MB`` becomes ``MBy``); OTel
        readers see the base unit (``s``, ``By``) and Prometheus shows it as a
        name suffix (see ``prometheus_name``). ``buckets`` (histograms only):
        the bucket upper bounds, increasing, in ``unit``; by default OTel's.

        >>> metrics.register_metric("request_latency", "histogram", "Request latency", "ms")  # doctest: +SKIP
        >>> metrics.register_metric("batch_rows", "histogram", buckets=[10, 100, 1000])  # doctest: +SKIP
        """
        kind = parse_type(metric_type)
        bounds = _check_buckets(buckets, kind) if buckets is not None else None
        self._register(check_name(name), kind, description, unit, bounds)

    def _register(self, name: str, kind: MetricType, description: Any, unit: Any,
                  buckets: tuple[float, ...] | None = None) -> Metric:
        if not isinstance(description, str):
            raise TypeError(f"description must be a string, got {type(description).__name__}")
        unit = ucum_unit(unit)
        with self._lock:
            metric = self._metrics.get(name)
            if metric is not None:
                if metric.type is not kind:
                    raise ValueError(f"metric {name!r} is already registered as a {metric.type.value}, "
                                     f"not a {kind.value}")
                if buckets is not None and buckets != self._buckets.get(name):
                    raise ValueError(f"histogram {name!r} is already registered with buckets "
                                     f"{list(self._buckets.get(name) or _DEFAULT_BOUNDS)}, not {list(buckets)}")
                return metric
            metric = Metric(name, kind, description, unit, self._max_points)
            self._claim_names(metric)
            otel = {"unit": metric.otel_unit, "description": metric.help_text}
            if kind is MetricType.COUNTER:
                metric.instrument = self._meter.create_observable_counter(
                    metric.otel_name, callbacks=[metric.observe_totals], **otel)
            elif kind is MetricType.GAUGE:
                metric.instrument = self._meter.create_observable_gauge(
                    metric.otel_name, callbacks=[metric.observe_last], **otel)
            else:
                bounds = None
                if buckets is not None:
                    self._buckets[name] = buckets
                    bounds = [b * metric.mul / metric.div for b in buckets]
                elif (metric.mul, metric.div) != (1, 1):  # OTel's default buckets, in the base unit
                    bounds = [b * metric.mul / metric.div for b in _DEFAULT_BOUNDS]
                metric.instrument = self._meter.create_histogram(
                    metric.otel_name, explicit_bucket_boundaries_advisory=bounds, **otel)
                self._buffered.append(metric)
            self._metrics[name] = metric
            self._otel_names[metric.otel_name.lower()] = name
            return metric

    def _claim_names(self, metric: Metric) -> None:
        """Refuse a metric whose name would share an OTel instrument or a Prometheus family.

        OTel instrument names are case-insensitive, and the exposition drops
        ``_total`` and adds the unit: ``b`` and ``b_total``, ``a`` (unit s) and
        ``a_seconds``, ``QueueDepth`` and ``queuedepth`` would each be one family
        there, and one of the two values would be lost. Caller holds the lock.
        """
        keys = {metric.name.lower(), metric.otel_name.lower(), metric.family.lower(), metric.otel_family.lower()}
        for key in keys:
            other = self._claimed.get(key)
            if other is not None and other != metric.name:
                raise ValueError(
                    f"metric {metric.name!r} would collide with the registered metric {other!r}: both "
                    f"are {metric.family!r} (or the same OTel instrument, names being case-insensitive) "
                    "in Prometheus; choose another name")
        # Distinct families may still write the same sample name (a histogram ``a``
        # and a gauge ``a_bucket`` both write ``a_bucket``): one series to a scraper.
        samples = {s.lower() for family in {metric.family, metric.otel_family}
                   for s in sample_names(family, metric.type)}
        for sample in samples:
            other = self._claimed_samples.get(sample)
            if other is not None and other != metric.name:
                raise ValueError(
                    f"metric {metric.name!r} would collide with the registered metric {other!r}: both "
                    f"write samples named {sample!r} in Prometheus; choose another name")
        for key in keys:
            self._claimed[key] = metric.name
        for sample in samples:
            self._claimed_samples[sample] = metric.name

    # ------------------------------------------------------------------ recording (hot paths)

    def increment_counter(self, name: str, value: float = 1, labels: Mapping[str, Any] | None = None) -> None:
        """Add ``value`` (>= 0) to the counter ``name`` for ``labels``.

        An add that would take the total past the largest float (to ``inf``, which no reader can
        show as a count) is refused as a contained fault: the total stays where it was, in every
        reader, and the add is counted in ``dropped{signal="metrics",reason="counter_overflow"}``.

        >>> metrics.increment_counter("request_count", labels={"method": "GET"})  # doctest: +SKIP
        """
        try:
            metric, series = self._counters[name, tuple(labels.items()) if labels else ()]
        except (KeyError, TypeError, AttributeError):
            pass
        else:
            if _add(metric, series, value):
                return
        self._record_slow(MetricType.COUNTER, name, value, labels)

    def set_gauge(self, name: str, value: float, labels: Mapping[str, Any] | None = None) -> None:
        """Set the gauge ``name`` for ``labels`` to ``value``."""
        try:
            metric, series = self._gauges[name, tuple(labels.items()) if labels else ()]
        except (KeyError, TypeError, AttributeError):
            pass
        else:
            if _set(metric, series, value):
                return
        self._record_slow(MetricType.GAUGE, name, value, labels)

    def increment_gauge(self, name: str, value: float = 1, labels: Mapping[str, Any] | None = None) -> None:
        """Add ``value`` to the gauge ``name`` for ``labels`` (a series never set starts at 0).

        For values that go up and down by steps (jobs in flight, open connections). A step that
        would take the gauge past the largest float is refused like a counter's overflowing add
        (the gauge keeps its value), counted in ``dropped{signal="metrics",reason="gauge_overflow"}``.
        """
        self._adjust_gauge(name, value, labels)

    def decrement_gauge(self, name: str, value: float = 1, labels: Mapping[str, Any] | None = None) -> None:
        """Subtract ``value`` from the gauge ``name`` for ``labels``."""
        self._adjust_gauge(name, value, labels, sign=-1)

    def _adjust_gauge(self, name: str, value: Any, labels: Mapping[str, Any] | None, sign: int = 1) -> None:
        metric = self._metrics.get(name) if isinstance(name, str) else None
        if metric is None:
            metric = self._register(check_name(name), MetricType.GAUGE, "", "")
        if metric.type is not MetricType.GAUGE:
            _selfmon.fault("metric_type", ValueError(
                f"metric {name!r} is a {metric.type.value}; a gauge step cannot record to it "
                "(the value was dropped)"), key=name)
            return
        series, _cacheable = self._series_for(metric, labels)
        number = checked_value(MetricType.GAUGE, value, name)
        if number is None:
            return
        now = _time_ns()
        with metric.lock:  # read-add-write under the series' metric lock: concurrent steps add up exactly
            before = series.last or 0
            level = before + sign * number
            if -_MAX <= level <= _MAX:
                series.last = level
                series.total += level
                series.count += 1
                metric.points += ((now, series, level),)
        if not -_MAX <= level <= _MAX:  # outside the lock: it logs, or raises under strict
            _refuse_overflow(name, before, sign * number, "gauge")

    def observe_histogram(self, name: str, value: float, labels: Mapping[str, Any] | None = None) -> None:
        """Record ``value`` (finite, >= 0) in the histogram ``name`` for ``labels``.

        A negative value is dropped as a contained fault (OTel histograms refuse it), counted in
        ``monitoring_layer_dropped_total{signal="metrics",reason="negative_value"}``.
        """
        try:
            metric, series = self._histograms[name, tuple(labels.items()) if labels else ()]
        except (KeyError, TypeError, AttributeError):
            pass
        else:
            if _observe(self, metric, series, value):
                return
        self._record_slow(MetricType.HISTOGRAM, name, value, labels)

    def observe_summary(self, name: str, value: float, labels: Mapping[str, Any] | None = None) -> None:
        """Record ``value`` (finite, >= 0) in the summary ``name`` for ``labels`` (quantiles 0.5, 0.95, 0.99).

        A negative value is dropped like a histogram's (a summary is an OTel histogram too).
        """
        try:
            metric, series = self._summaries[name, tuple(labels.items()) if labels else ()]
        except (KeyError, TypeError, AttributeError):
            pass
        else:
            if _observe(self, metric, series, value):
                return
        self._record_slow(MetricType.SUMMARY, name, value, labels)

    def recorder(self, name: str, labels: Mapping[str, Any] | None = None, *,
                 metric_type: MetricType | str | None = None) -> Callable[[float], None]:
        """A function recording a value to one series, ``name`` and ``labels`` resolved once, here.

        It does what the metric's type does with a value: a counter adds it, a gauge is set to
        it, a histogram or summary observes it; with the same checks, faults and counts as
        ``increment_counter``, ``set_gauge``, ``observe_histogram`` and ``observe_summary``,
        without their lookup of the name and labels on every call (a quarter of their cost or
        more). For hot loops, and what the decorators use:

        >>> rows_read = metrics.recorder("rows_read_total", {"table": "orders"})  # doctest: +SKIP
        >>> for batch in batches:                                                # doctest: +SKIP
        ...     rows_read(len(batch))

        ``name`` must be registered, unless ``metric_type`` is given: then it is registered as
        that type (as a first record would), and a metric registered as another type gets a
        function that records through ``metric_type``'s call (a contained, counted fault each
        time, as that call would be). ``ValueError``/``TypeError`` name a bad ``name``,
        ``labels`` or ``metric_type``.
        """
        kind = parse_type(metric_type) if metric_type is not None else None
        if not self.enabled:  # OTEL_SDK_DISABLED: records nothing, registers nothing
            return _ignore
        metric = self._metrics.get(name) if isinstance(name, str) else None
        if metric is None:
            if kind is None:
                raise ValueError(f"name: metric {name!r} is not registered (register_metric() it, "
                                 "or pass metric_type)")
            metric = self._register(check_name(name), kind, "", "")
        kind = kind or metric.type
        call = {MetricType.COUNTER: self.increment_counter, MetricType.GAUGE: self.set_gauge,
                MetricType.HISTOGRAM: self.observe_histogram, MetricType.SUMMARY: self.observe_summary}[kind]
        series, cacheable = self._series_for(metric, labels)  # checks the labels (TypeError, ValueError)
        labels = dict(labels) if labels else {}  # a copy: the caller may change theirs later
        if metric.type is not kind or not cacheable:
            # Another type, label values that are not strings (a series by their text), or past
            # the cardinality limit (counted per record): the call, every time.
            return functools.partial(_call_with_labels, call, name, labels)
        return self._recorder(kind, metric, series, name, labels)

    def _recorder(self, kind: MetricType, metric: Metric, series: Series, name: str,
                  labels: Mapping[str, Any] | None) -> Callable[[Any], None]:
        """The series' update (``_add``, ``_set``, ``_observe``), with ``_record_slow`` for a value it refuses."""
        slow = self._record_slow
        if kind is MetricType.COUNTER:
            def add(value: float) -> None:
                if not _add(metric, series, value):
                    slow(kind, name, value, labels)
            return add
        if kind is MetricType.GAUGE:
            def set_to(value: float) -> None:
                if not _set(metric, series, value):
                    slow(kind, name, value, labels)
            return set_to
        collector = self

        def observe(value: float) -> None:  # histograms and summaries
            if not _observe(collector, metric, series, value):
                slow(kind, name, value, labels)
        return observe

    # ------------------------------------------------------------------ recording (first use, faults)

    def _record_slow(self, kind: MetricType, name: str, value: Any, labels: Mapping[str, Any] | None) -> None:
        metric = self._metrics.get(name) if isinstance(name, str) else None
        if metric is None:
            # Recording to an unknown name registers it with the implied type;
            # a bad name is misuse and raises ValueError here, strict or not.
            metric = self._register(check_name(name), kind, "", "")
        if metric.type is not kind:
            _selfmon.fault("metric_type", ValueError(
                f"metric {name!r} is a {metric.type.value}; a {kind.value} call cannot record to it "
                "(the value was dropped)"), key=name)
            return
        series, cacheable = self._series_for(metric, labels)
        number = checked_value(kind, value, name)
        if number is None:
            return
        if cacheable:
            cache = self._caches[kind]
            if len(cache) >= _CACHE_ENTRIES_PER_SERIES * self._series_count + 1024:
                cache.clear()
            cache[name, tuple(labels.items()) if labels else ()] = (metric, series)
        now = _time_ns()
        with metric.lock:
            if kind is MetricType.COUNTER and not series.total + number <= _MAX:
                overflow = series.total
            else:
                overflow = None
                series.count += 1
                series.total += number
                metric.points.append((now, series, number))
            if kind is MetricType.GAUGE:
                series.last = number
            elif kind is not MetricType.COUNTER:
                series.pending.append(number)
                metric.pending += 1
                self._pending += 1
        if overflow is not None:
            _refuse_overflow(name, overflow, number)  # outside the lock: it logs, or raises under strict
            return
        if self._pending >= PENDING_LIMIT:
            self._drain_series(metric, series)

    def _series_for(self, metric: Metric, labels: Mapping[str, Any] | None) -> tuple[Series, bool]:
        if not labels:
            items: list[tuple[str, str]] = []
            cacheable = True
        elif labels.__class__ is not dict and not isinstance(labels, Mapping):
            raise TypeError(f"labels of metric {metric.name!r} must be a dict, got {type(labels).__name__}")
        else:
            items = []
            cacheable = True
            good = _GOOD_LABELS
            for label, value in labels.items():
                if label not in good:
                    check_label_name(label, metric.name)
                    if len(good) < 10_000:
                        good.add(label)
                if value.__class__ is not str:
                    cacheable = False  # 1 == 1.0 == True: only exact strings are safe cache keys
                    value = str(value)
                if not value.isascii():
                    value = safe_text(value)  # a lone surrogate would break every scrape
                if self._scrubber.sensitive(label):
                    value = REDACTED  # password="..." as a label: the same rules as logs and spans
                elif "=" in value or ":" in value or "AKIA" in value or "ASIA" in value:
                    value = self._scrubber.text(value)
                items.append((label, value))
        key = tuple(sorted(items))
        series = metric.series.get(key)
        if series is not None:
            return series, cacheable
        with self._lock:
            series = metric.series.get(key)
            if series is not None:
                return series, cacheable
            if metric.real_series < self._cardinality:
                series = Series(key, dict(key), dict(key))
                metric.real_series += 1
                self._series_count += 1
                metric.series[key] = series
                return series, cacheable
            metric.overflowed += 1
            overflow = metric.series.get(OVERFLOW_KEY)
            if overflow is None:
                overflow = Series(OVERFLOW_KEY, dict(OVERFLOW_LABELS), dict(OVERFLOW_ATTRIBUTES))
                metric.series[OVERFLOW_KEY] = overflow
                _selfmon.logger.warning(
                    "metric %r reached its cardinality limit of %d label sets "
                    "(MONITORING_METRICS_CARDINALITY_LIMIT); further label sets go to the series "
                    "otel_metric_overflow=\"true\", counted in "
                    "monitoring_layer_dropped_total{signal=\"metrics\",reason=\"cardinality_overflow\"}",
                    metric.name, self._cardinality)
        _selfmon.dropped("metrics", "cardinality_overflow", 1)
        return overflow, False

    # ------------------------------------------------------------------ handing values to OTel

    def _drain_series(self, metric: Metric, series: Series) -> None:
        """Hand the oldest ``DRAIN_CHUNK`` buffered values of ``series`` to OTel (buffer full)."""
        with metric.lock:
            values = series.pending[:DRAIN_CHUNK]
            del series.pending[:DRAIN_CHUNK]
            metric.pending -= len(values)
        self._pending -= len(values)
        self._record(metric, [(series.attributes, values)])

    def _drain(self, metric: Metric) -> None:
        with metric.lock:
            batches = [(s.attributes, s.pending) for s in metric.series.values() if s.pending]
            for series in metric.series.values():
                if series.pending:
                    series.pending = []
            metric.pending = 0
        self._record(metric, batches)

    def _record(self, metric: Metric, batches: list[tuple[Any, list[float]]]) -> None:
        # Each series' values in one hand-over (bucket counts added in bulk where the SDK allows):
        # OTel sees every value, at a fraction of one record() call per value.
        instrument = metric.instrument
        scaled = (metric.mul, metric.div) != (1, 1)
        mul, div = metric.mul, metric.div
        with _selfmon.contained("export", key=f"histogram {metric.name}"):
            for attributes, values in batches:
                _compat.record_histogram_values(
                    instrument, attributes, [v * mul / div for v in values] if scaled else values)

    def _drain_callback(self, _options: CallbackOptions) -> list[Observation]:
        for metric in list(self._buffered):
            if metric.pending:
                self._drain(metric)
        self._pending = 0  # resets the drift of the unlocked count
        return []

    # ------------------------------------------------------------------ queries

    def metric_names(self) -> list[str]:
        """Names of all metrics known to this collector, sorted."""
        return sorted(self._metrics)

    def prometheus_name(self, name: str) -> str:
        """The name under which Prometheus shows metric ``name`` (a counter's: its sample's).

        The base unit's word is appended (``ms`` -> ``_seconds``, ``MB`` ->
        ``_bytes``; a name ending in its unit's abbreviation has it replaced)
        and counters get ``_total``: ``request_latency`` in ms is
        ``request_latency_seconds``, ``request_count`` is ``request_count_total``.
        """
        return self._metric(name).prometheus_name

    def get_metric_statistics(self, name: str, labels: Mapping[str, Any] | None = None) -> MetricStatistics:
        """``count, sum, mean, min, max, p50, p95, p99`` over the retained points of ``name``.

        ``labels`` keeps the series that carry all the given pairs (``None`` or
        ``{}``: every series). Percentiles are exact with linear interpolation
        (NumPy's default). Also ``total_count``/``total_sum`` (lifetime, not
        limited by retention), ``total`` for counters (exact), ``last`` for
        gauges and ``series`` (how many matched). Unknown name: ``KeyError``.
        """
        if labels is not None and not isinstance(labels, Mapping):
            raise TypeError(f"labels must be a mapping of label names to values, got {type(labels).__name__}")
        metric = self._metric(name)
        metric.prune(self._horizon_ns())
        return metric.statistics(labels)  # type: ignore[return-value]  # built with every key of the TypedDict

    def export_metrics(self) -> dict[str, Any]:
        """Every metric as a JSON-serializable document shaped like ``metrics/metrics_registry.json``."""
        return {"schema_version": METRICS_SCHEMA_VERSION, "kind": "metrics", "updated": iso(now_ns()),
                "metrics": self.file_entries()}

    def export_prometheus_format(self) -> str:
        """Prometheus text exposition (0.0.4) of the MeterProvider: what ``/metrics`` serves."""
        return render_exposition(self._bridge.registry)[0].decode("utf-8")

    # ------------------------------------------------------------------ hooks for exporters

    def owns(self, name: str) -> bool:
        """True for metrics this collector supplies readings of (``ReadingSource`` hook): their OTel
        points are skipped."""
        return name in self._metrics or name.lower() in self._otel_names or name == "monitoring_layer_metrics_drain"

    def file_entries(self) -> dict[str, Any]:
        """``{name: entry}`` of every metric, pruned to retention (as in ``export_metrics()``)."""
        readings = group_by_name(self.readings(_time_ns()))
        entries = {}
        for name in sorted(self._metrics):
            metric = self._metrics[name]
            entries[name] = facade_entry(
                readings.get(name, []), kind=metric.type.value, description=metric.description, unit=metric.unit,
                prometheus_name=metric.prometheus_name, dropped_points=metric.dropped_age + metric.dropped_by_count())
        return entries

    def readings(self, timestamp_ns: int) -> list[MetricReading]:
        """Every series of every metric as a ``MetricReading`` (``ReadingSource`` hook)."""
        horizon = self._horizon_ns()
        result: list[MetricReading] = []
        for metric in list(self._metrics.values()):
            metric.prune(horizon)
            result.extend(metric.readings(self._source, timestamp_ns))
        return result

    def catalog(self) -> list[MetricInfo]:
        """Every registered metric (``ReadingSource`` hook), recorded to or not."""
        return [MetricInfo(m.name, m.type.value, m.unit, m.description, m.prometheus_name)  # type: ignore[arg-type]
                for m in list(self._metrics.values())]

    def prometheus_view(self) -> tuple[set[str], dict[str, str], list[Any]]:
        """Hidden, renamed and added families for the Prometheus bridge (see ``_prometheus``)."""
        horizon = self._horizon_ns()
        metrics = list(self._metrics.values())
        for metric in metrics:
            if metric.type is MetricType.SUMMARY:
                metric.prune(horizon)
        scope = {"otel_scope_name": METER_NAME, "otel_scope_version": __version__, "otel_scope_schema_url": "",
                 **{"otel_scope_" + _compat.sanitize_attribute(k): str(v) for k, v in self._scope_attributes.items()}}
        return facade_view(metrics, scope)

    # ------------------------------------------------------------------ helpers

    def _metric(self, name: str) -> Metric:
        metric = self._metrics.get(name) if isinstance(name, str) else None
        if metric is None:
            known = ", ".join(sorted(self._metrics)[:20]) or "none yet"
            raise UnknownMetricError(f"unknown metric {name!r}: register_metric() it or record to it first "
                                     f"(known: {known})")
        return metric

    def _horizon_ns(self) -> int:
        return _time_ns() - int(self.settings.metrics_retention_days * _NS_PER_DAY)

    def close(self) -> None:
        """Detach from the Prometheus registry and the JSON exporter (tests, several apps)."""
        self._bridge.remove_source(self)
        if self._readings_exporter is not None:
            self._readings_exporter.remove_source(self)
        if self._own_reader is not None:
            with _selfmon.contained("shutdown", key="metrics prometheus reader"):
                self.meter_provider.remove_metric_reader(self._own_reader)  # also shuts it down
            self._own_reader = None


_PROVIDER_COLLECTORS: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
_PROVIDER_LOCK = threading.Lock()


#: Label values longer than this are cut by the scrubber (with a visible marker).
_MAX_LABEL_LENGTH = 1024


def _check_buckets(buckets: Any, kind: MetricType) -> tuple[float, ...]:
    if kind is not MetricType.HISTOGRAM:
        raise ValueError(f"buckets are for histograms only, not a {kind.value}")
    if isinstance(buckets, (str, bytes)) or not isinstance(buckets, Sequence):
        raise TypeError(f"buckets must be a sequence of numbers, got {type(buckets).__name__}")
    bounds: list[float] = []
    for bound in buckets:
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
            raise ValueError(f"buckets must be finite numbers, got {bound!r}")
        if bounds and bound <= bounds[-1]:
            raise ValueError(f"buckets must be strictly increasing, got {list(buckets)!r}")
        bounds.append(float(bound))
    if not bounds:
        raise ValueError("buckets must hold at least one bound")
    return tuple(bounds)


def _scope_attributes(meter_provider: Any) -> dict[str, Any]:
    with _PROVIDER_LOCK:
        try:
            earlier = _PROVIDER_COLLECTORS.get(meter_provider, 0)
            _PROVIDER_COLLECTORS[meter_provider] = earlier + 1
        except TypeError:  # not weak-referenceable: assume the first
            earlier = 0
    return {"monitoring_layer.collector": earlier} if earlier else {}


def _refuse_overflow(name: str, total: float, value: float, kind: str = "counter") -> None:
    """A counter add or gauge step refused because the result would not be finite: dropped, counted, logged once."""
    if kind == "counter":
        _selfmon.dropped("metrics", "counter_overflow")
    else:
        _selfmon.dropped("metrics", "gauge_overflow")
    what = "total" if kind == "counter" else "value"
    _selfmon.fault("metric_value", ValueError(
        f"{kind} {name!r} was given {value!r}, which would take its {what} {total!r} past the largest "
        f"float (to {'-' if value < 0 else ''}inf); the {what} was kept and the step dropped"), key=name)


def _ignore(*_args: Any, **_kwargs: Any) -> None:
    return None


# The fast paths' updates of one series, shared by the facade's calls and the recorders. Each takes
# a value of the expected type and range and returns True, or returns False and leaves it to the
# caller's slow path (its check, fault and count). Inside the lock: no call (see _time_ns).

def _add(metric: Metric, series: Series, value: float) -> bool:
    if value.__class__ in _NUMBERS and 0 <= value <= _MAX:
        now = _time_ns()
        with metric.lock:
            total = series.total + value
            if total <= _MAX:  # else the slow path refuses it (the total would not be finite)
                series.total = total
                series.count += 1
                metric.points += ((now, series, value),)
                return True
    return False


def _set(metric: Metric, series: Series, value: float) -> bool:
    if value.__class__ in _NUMBERS and -_MAX <= value <= _MAX:
        now = _time_ns()
        with metric.lock:
            series.last = value
            series.total += value
            series.count += 1
            metric.points += ((now, series, value),)
        return True
    return False


def _observe(collector: MetricsCollector, metric: Metric, series: Series, value: float) -> bool:
    if value.__class__ in _NUMBERS and 0 <= value <= _MAX:
        now = _time_ns()
        with metric.lock:
            series.total += value
            series.count += 1
            metric.points += ((now, series, value),)
            series.pending += (value,)
            metric.pending += 1
        collector._pending += 1  # unlocked: approximate, only decides when to drain early
        if collector._pending >= PENDING_LIMIT:
            collector._drain_series(metric, series)
        return True
    return False


def _call_with_labels(call: Callable[..., None], name: str, labels: Mapping[str, Any], value: Any) -> None:
    call(name, value, labels)


def _pid() -> int:
    return os.getpid()


def _source_of(pipeline: Any) -> str:
    return f"{resource_service(getattr(pipeline, 'resource', None))}/{_pid()}"
