"""Every access to a private part of the OpenTelemetry SDK and exporters, in one place.

The package relies on a few private names (tested with opentelemetry-sdk
``TESTED_SDK``). Each accessor below checks that what it needs is there and,
when it is not (the SDK moved it), falls back to a weaker behaviour and reports
it once as a fault ``kind="compat"`` (counted in
``monitoring_layer_errors_total{kind="compat"}``, logged with the consequence).
Nothing else in the package touches an underscore attribute of OTel.

Internal helper (lowest layer): imports only ``_selfmon``.
"""

from __future__ import annotations

import contextvars
import math
import re
import weakref
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.sdk._logs import LogRecordLimits, SynchronousMultiLogRecordProcessor
from opentelemetry.sdk.trace import SpanProcessor

from monitoring_layer import _selfmon
from monitoring_layer._stats import exact_sum

__all__ = ["SDK_VERSION", "BaseConfigurator", "TESTED_SDK", "add_span_scrubber", "batch_processor_metrics",
           "context_ops", "log_processors", "logger_limits", "map_unit", "record_histogram_values", "prepend_log_processor",
           "sanitize_attribute", "sanitize_full_name", "span_parts"]

#: The SDK minor version these accesses were written against.
TESTED_SDK = (1, 45)


def _version() -> tuple[int, ...]:
    # The SDK's own version module, not importlib.metadata: that one (and the zipfile, csv and
    # pathlib it imports, about 1,800 objects every full collection walks) is not needed here.
    try:
        from opentelemetry.sdk.version import __version__
    except ImportError:
        return ()
    return tuple(int(p) for p in re.findall(r"\d+", __version__)[:2])


SDK_VERSION = _version()


def _fallback(what: str, consequence: str) -> None:
    _selfmon.fault("compat", f"{what} is not available in opentelemetry-sdk "
                   f"{'.'.join(map(str, SDK_VERSION)) or '?'} (written for {TESTED_SDK[0]}.{TESTED_SDK[1]}): "
                   f"{consequence}", key=what, strict=False)


# -- Prometheus naming (opentelemetry.exporter.prometheus._mapping) -------------------------

_UNITS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds",
          "min": "minutes", "h": "hours", "d": "days", "By": "bytes", "KBy": "kilobytes",
          "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes", "KiBy": "kibibytes",
          "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tebibytes", "%": "percent", "1": ""}


def _own_sanitize(name: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^a-zA-Z0-9_:]", "_", name))


def _own_map_unit(unit: str) -> str:
    return _UNITS.get(unit, _own_sanitize(unit).strip("_"))


def _own_sanitize_full_name(name: str) -> str:
    cleaned = _own_sanitize(name)
    return "_" + cleaned if cleaned[:1].isdigit() else cleaned


def _own_sanitize_attribute(key: str) -> str:
    return _own_sanitize(key).replace(":", "_")


try:
    from opentelemetry.exporter.prometheus import _mapping as _prometheus_mapping

    map_unit: Callable[[str], str] = _prometheus_mapping.map_unit
    sanitize_full_name: Callable[[str], str] = _prometheus_mapping.sanitize_full_name
    sanitize_attribute: Callable[[str], str] = _prometheus_mapping.sanitize_attribute
except (ImportError, AttributeError):  # pragma: no cover - depends on the installed exporter
    map_unit, sanitize_full_name, sanitize_attribute = _own_map_unit, _own_sanitize_full_name, _own_sanitize_attribute
    _fallback("opentelemetry.exporter.prometheus._mapping",
              "Prometheus names are derived by monitoring-layer's own rules and may differ from OTel's")


# -- batch processors' drop hook (BatchSpanProcessor / BatchLogRecordProcessor) --------------

def batch_processor_metrics(processor: Any) -> tuple[Any, Any] | None:
    """``(inner batch processor, its metrics object with drop_items)``, or None when absent."""
    batch = getattr(processor, "_batch_processor", None)
    metrics = getattr(batch, "_metrics", None)
    if metrics is None or not hasattr(metrics, "drop_items"):
        if type(processor).__name__.startswith("Batch"):
            _fallback("BatchProcessor._metrics.drop_items",
                      "items dropped by the SDK's full batch queues are not counted in monitoring_layer_dropped_total")
        return None
    return batch, metrics


# -- the logs SDK's processor chain --------------------------------------------------------

#: The LoggerProvider attribute holding its processors (a name, so a test can simulate a move).
_MULTI_ATTR = "_multi_log_record_processor"


def log_processors(logger_provider: Any) -> tuple[Any, ...]:
    """The processors of an SDK ``LoggerProvider`` (empty when they cannot be reached)."""
    multi = getattr(logger_provider, _MULTI_ATTR, None)
    processors = getattr(multi, "_log_record_processors", None)
    return processors if isinstance(processors, tuple) else ()


def prepend_log_processor(logger_provider: Any, processor: Any) -> bool:
    """Put ``processor`` before every other processor of ``logger_provider``; False when impossible."""
    multi = getattr(logger_provider, _MULTI_ATTR, None)
    lock = getattr(multi, "_lock", None)
    processors = getattr(multi, "_log_record_processors", None)
    if not isinstance(multi, SynchronousMultiLogRecordProcessor) or lock is None or not isinstance(processors, tuple):
        return False
    with lock:
        multi._log_record_processors = (processor, *multi._log_record_processors)  # noqa: SLF001
    return True


def logger_limits(logger: Any) -> Any:
    """The SDK logger's ``LogRecordLimits`` (the SDK default when absent)."""
    limits = getattr(logger, "_log_record_limits", None)
    if limits is None:
        return LogRecordLimits()
    return limits


# -- scrubbing spans as they end ----------------------------------------------------------------

#: Whether the SDK calls ``SpanProcessor._on_ending(span)`` with the still-mutable span, before any
#: processor's ``on_end`` (opentelemetry-sdk 1.34 and newer).
SPAN_ENDING_HOOK = hasattr(SpanProcessor, "_on_ending")
_SCRUBBED_PROVIDERS: weakref.WeakSet[Any] = weakref.WeakSet()


class _ScrubbingSpanProcessor(SpanProcessor):
    """Redacts each ending span's attributes and events' attributes in place, before any exporter."""

    def __init__(self, changes: Callable[[Mapping[str, Any]], dict[str, Any] | None]) -> None:
        self._changes = changes

    def _on_ending(self, span: Any) -> None:
        try:
            # Read through span_parts: the frozen containers themselves where the SDK allows, not
            # BoundedAttributes' Python-level items() nor BoundedList's copy under a lock per span.
            attributes, events, _ = span_parts(span)
            if attributes:
                found = self._changes(attributes)
                if found:
                    span._attributes = _replaced(span._attributes, found)  # noqa: SLF001
            for event in events:
                event_attributes = event._attributes  # noqa: SLF001
                if event_attributes:
                    found = self._changes(event_attributes)
                    if found:
                        event._attributes = {**event_attributes, **found}  # noqa: SLF001 - immutable mapping
        except Exception as exc:  # noqa: BLE001 - never into the code that ends the span
            _selfmon.fault("compat", exc, key="span scrubbing", strict=False)


def _replaced(attributes: Any, found: Mapping[str, Any]) -> Any:
    """A frozen copy of a span's ``BoundedAttributes`` with ``found`` in place (same bounds, same drop count)."""
    if not isinstance(attributes, BoundedAttributes):
        return {**attributes, **found}
    copy = BoundedAttributes(maxlen=attributes.maxlen, attributes={**attributes, **found}, immutable=True,
                             max_value_len=attributes.max_value_len)
    copy.dropped = attributes.dropped
    return copy


def add_span_scrubber(tracer_provider: Any,
                      changes: Callable[[Mapping[str, Any]], dict[str, Any] | None]) -> bool:
    """Scrub every span of ``tracer_provider`` as it ends (once per provider); False when impossible.

    ``changes(attributes)`` returns what to replace (see ``Scrubber.changes``). Without the
    SDK's ending hook, spans reach the exporters unredacted: reported as a ``compat`` fault.
    """
    if tracer_provider in _SCRUBBED_PROVIDERS:
        return True
    if not SPAN_ENDING_HOOK or not hasattr(tracer_provider, "add_span_processor"):
        _fallback("SpanProcessor._on_ending",
                  "span attributes and events reach the exporters and stores UNREDACTED")
        return False
    tracer_provider.add_span_processor(_ScrubbingSpanProcessor(changes))
    _SCRUBBED_PROVIDERS.add(tracer_provider)
    return True


# -- reading an ended span without copies ------------------------------------------------------

def _span_parts_public(span: Any) -> tuple[Mapping[str, Any], Any, Any]:
    return span.attributes or {}, span.events, span.links


def _span_parts_fast(span: Any) -> tuple[Mapping[str, Any], Any, Any]:
    # ReadableSpan's public properties copy under a lock each time (attributes through a
    # MappingProxy, events and links into new tuples); an ended span's are frozen, so the
    # underlying containers are read directly.
    attributes = span._attributes  # noqa: SLF001
    if isinstance(attributes, BoundedAttributes):
        attributes = attributes._dict  # noqa: SLF001
    return attributes or {}, span._events or (), span._links or ()  # noqa: SLF001


def _pick_span_parts() -> Callable[[Any], tuple[Mapping[str, Any], Any, Any]]:
    from opentelemetry.sdk.trace import ReadableSpan

    probe = ReadableSpan(name="probe", attributes={"a": 1})
    try:
        if dict(_span_parts_fast(probe)[0]) == {"a": 1} and hasattr(BoundedAttributes(attributes={}), "_dict"):
            return _span_parts_fast
    except AttributeError:
        pass
    _fallback("ReadableSpan._attributes/_events/_links", "ended spans are read through their public "
              "properties, which copy them (slower, same result)")
    return _span_parts_public


#: ``span_parts(span) -> (attributes mapping, events, links)`` of an ENDED span, read without copies
#: (the public properties when the SDK's private fields moved: slower, same result).
span_parts = _pick_span_parts()


# -- histogram values handed over in bulk ------------------------------------------------------------

def _bulk_parts() -> tuple[Any, Any] | None:
    try:
        from opentelemetry.sdk.metrics._internal._view_instrument_match import _hash_attributes
        from opentelemetry.sdk.metrics._internal.aggregation import _ExplicitBucketHistogramAggregation
    except ImportError:
        return None
    if not hasattr(_ExplicitBucketHistogramAggregation, "_get_empty_bucket_counts"):
        return None
    return _hash_attributes, _ExplicitBucketHistogramAggregation


_BULK = _bulk_parts()
if _BULK is None:
    _fallback("_ExplicitBucketHistogramAggregation", "histogram values are handed to OTel one by one (slower)")
#: What ``aggregate()`` of an explicit-bucket histogram touches, checked before adding in bulk.
_AGGREGATION_FIELDS = ("_lock", "_value", "_sum", "_min", "_max", "_boundaries", "_record_min_max")


def record_histogram_values(instrument: Any, attributes: Mapping[str, Any], values: Sequence[float]) -> None:
    """``instrument.record(value, attributes)`` for every value, in bulk where the SDK allows it.

    The first value is recorded through the API (it creates the series' aggregation in
    every reader). The others are added to those explicit-bucket aggregations directly
    (bucket counts, sum, min, max under each aggregation's lock): what ``record`` would
    have done, without building a measurement and matching views once per value and per
    reader. Exemplars are not sampled for them (values handed over later have no context).
    Wherever that is not possible (another aggregation by a user's View, an SDK whose
    private names moved) every value goes through ``record``, as before. A negative (or NaN)
    value is never recorded: it is counted in ``dropped{signal="metrics",reason="negative_value"}``.
    """
    if not all(v >= 0 for v in values):
        # The SDK would refuse each one with a warning; the facade refuses them before they get
        # here, so this only guards other callers: dropped and counted, never recorded.
        kept = [v for v in values if v >= 0]
        _selfmon.dropped("metrics", "negative_value", len(values) - len(kept))
        values = kept
    if not values:
        return
    record = instrument.record
    record(values[0], attributes)
    rest = values[1:]
    if not rest:
        return
    aggregations = _bulk_aggregations(instrument, attributes) if _BULK is not None else None
    if aggregations is None:
        for value in rest:
            record(value, attributes)
        return
    by_bounds: dict[tuple[float, ...], list[int]] = {}
    total = exact_sum(rest)
    low, high = min(rest), max(rest)
    for aggregation in aggregations:
        bounds = aggregation._boundaries  # noqa: SLF001
        counts = by_bounds.get(bounds)
        if counts is None:
            counts = [0] * (len(bounds) + 1)
            for value in rest:
                counts[bisect_left(bounds, value)] += 1
            by_bounds[bounds] = counts
        with aggregation._lock:  # noqa: SLF001 - what aggregate() does, once per batch
            if aggregation._value is None:  # noqa: SLF001
                aggregation._value = aggregation._get_empty_bucket_counts()  # noqa: SLF001
            buckets = aggregation._value  # noqa: SLF001
            for index, count in enumerate(counts):
                if count:
                    buckets[index] += count
            aggregation._sum += total  # noqa: SLF001
            if aggregation._record_min_max:  # noqa: SLF001
                aggregation._min = min(aggregation._min, low)  # noqa: SLF001
                aggregation._max = max(aggregation._max, high)  # noqa: SLF001


def _bulk_aggregations(instrument: Any, attributes: Mapping[str, Any]) -> list[Any] | None:
    """Every reader's explicit-bucket aggregation of ``attributes``; None when one is anything else."""
    assert _BULK is not None
    hash_attributes, histogram_class = _BULK
    try:
        storages = instrument._measurement_consumer._reader_storages.values()  # noqa: SLF001
        found = []
        for storage in storages:
            matches = storage._instrument_view_instrument_matches.get(instrument)  # noqa: SLF001
            if not matches:
                return None
            for match in matches:
                keys = match._view._attribute_keys  # noqa: SLF001
                kept = attributes if keys is None else {k: v for k, v in attributes.items() if k in keys}
                aggregation = match._attributes_aggregation.get(hash_attributes(dict(kept)))  # noqa: SLF001
                if type(aggregation) is not histogram_class:
                    return None
                if not all(hasattr(aggregation, name) for name in _AGGREGATION_FIELDS):
                    raise AttributeError(f"an explicit-bucket aggregation has none of {_AGGREGATION_FIELDS}")
                found.append(aggregation)
        return found
    except (AttributeError, TypeError) as exc:
        _fallback("MetricReaderStorage/_ViewInstrumentMatch internals",
                  f"histogram values are handed to OTel one by one ({type(exc).__name__}: {exc})")
        return None


# -- the context runtime ------------------------------------------------------------------------

def quiet_context() -> Any:
    """An empty OTel context in which instrumentation records nothing: what the SDK's batch threads
    export in. Our writer threads run in it, whatever context started them (a span ending, a
    record emitted), so their file work never joins an application's trace."""
    key = getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", None)
    if key is None:
        _fallback("opentelemetry.context._SUPPRESS_INSTRUMENTATION_KEY",
                  "writer threads run in an empty context (instrumented calls there could record)")
        return otel_context.Context()
    return otel_context.set_value(key, True, otel_context.Context())


def context_ops() -> tuple[Callable[[], Any], Callable[[Any], Any]]:
    """OTel's ``context.get_current``/``attach``, or the ``ContextVar.get``/``set`` they delegate to
    when OTel runs on its default contextvars runtime (two call levels less on the span hot path)."""
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    var = getattr(runtime, "_current_context", None)
    if type(runtime) is ContextVarsRuntimeContext and isinstance(var, contextvars.ContextVar):
        return var.get, var.set
    return otel_context.get_current, otel_context.attach


# -- the SDK's configurator base (for `opentelemetry-instrument`) ----------------------------------

def __getattr__(name: str) -> Any:
    # The base class OTel's own docs give distributions for OTEL_*_EXPORTER handling (private module
    # name, public role), re-exported so otel_instrument touches no private module. Looked up on first
    # use, by otel_instrument only: its module (the SDK's environment-driven setup, about 2,400 objects
    # and 0.1 s of import) is not loaded with the package.
    if name == "BaseConfigurator":
        from opentelemetry.sdk._configuration import _BaseConfigurator

        globals()[name] = _BaseConfigurator
        return _BaseConfigurator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
