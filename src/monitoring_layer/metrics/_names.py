"""Metric types, name and label validation, and the Prometheus name of a metric (units: ``_units``).

Names follow Prometheus rules *and* OTel instrument-name rules, because every
metric is an OTel instrument exposed to Prometheus: ``[a-zA-Z][a-zA-Z0-9_]*``,
at most 255 characters. That is Prometheus' ``[a-zA-Z_:][a-zA-Z0-9_:]*`` minus
what OTel refuses (a leading ``_``, and ``:``, which Prometheus reserves for
recording rules anyway). Label names follow ``[a-zA-Z_][a-zA-Z0-9_]*`` without
the reserved ``__`` prefix and without the names the exposition itself uses
(``le``, ``quantile``, ``otel_scope_*``, ``otel_metric_overflow``).
"""

from __future__ import annotations

import enum
import re

from monitoring_layer import _compat
from monitoring_layer._units import base_unit

__all__ = ["MetricType", "check_label_name", "check_name", "family_names", "otel_instrument_name",
           "parse_type", "prometheus_name", "sample_names"]


class MetricType(str, enum.Enum):
    """The four metric types of the spec; ``register_metric`` also takes their names as strings."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"
    SUMMARY = "summary"

    def __str__(self) -> str:
        return self.value


_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_]{0,254}")
_PROMETHEUS_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
#: Label names the Prometheus exposition of a metric already uses.
RESERVED_LABELS = frozenset({
    "le", "quantile", "otel_metric_overflow",
    "otel_scope_name", "otel_scope_version", "otel_scope_schema_url",
})


def parse_type(metric_type: object) -> MetricType:
    """``MetricType`` from an enum member or its name (case-insensitive); ``ValueError`` otherwise."""
    if isinstance(metric_type, MetricType):
        return metric_type
    if isinstance(metric_type, str):
        try:
            return MetricType(metric_type.strip().lower())
        except ValueError:
            pass
    choices = ", ".join(repr(t.value) for t in MetricType)
    raise ValueError(f"metric_type={metric_type!r} is not one of {choices} (or a MetricType)")


def check_name(name: object) -> str:
    """The metric name, or ``ValueError`` naming the argument and the rule it breaks."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    if _NAME.fullmatch(name):
        return name
    if name.startswith("__"):
        reason = "names starting with '__' are reserved by Prometheus"
    elif _PROMETHEUS_NAME.fullmatch(name):
        reason = ("a leading '_' or a ':' is not allowed (OTel instrument names refuse them; "
                  "Prometheus keeps ':' for recording rules)")
    else:
        reason = "it must match [a-zA-Z][a-zA-Z0-9_]* (at most 255 characters)"
    raise ValueError(f"name={name!r} is not a valid metric name: {reason}")


def check_label_name(label: object, metric: str) -> str:
    """The label name, or ``ValueError`` naming the metric and the rule it breaks."""
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        raise ValueError(f"label name {label!r} of metric {metric!r} must match [a-zA-Z_][a-zA-Z0-9_]*")
    if label.startswith("__"):
        raise ValueError(f"label name {label!r} of metric {metric!r}: names starting with '__' are reserved")
    if label in RESERVED_LABELS:
        raise ValueError(f"label name {label!r} of metric {metric!r} is reserved by the Prometheus exposition")
    return label


# How a name may already spell its unit (``kafka_processing_time_ms``): such a
# suffix is replaced by the base unit's Prometheus word, not doubled.
_NAME_SUFFIXES: dict[str, tuple[str, ...]] = {
    "ns": ("ns", "nanoseconds"), "us": ("us", "microseconds"), "ms": ("ms", "millis", "milliseconds"),
    "s": ("s", "sec", "secs", "seconds"), "min": ("min", "mins", "minutes"), "h": ("h", "hours"),
    "d": ("d", "days"), "By": ("b", "bytes"), "KBy": ("kb", "kilobytes"), "MBy": ("mb", "megabytes"),
    "GBy": ("gb", "gigabytes"), "TBy": ("tb", "terabytes"), "KiBy": ("kib",), "MiBy": ("mib",),
    "GiBy": ("gib",), "TiBy": ("tib",),
}


def family_names(name: str, metric_type: MetricType, unit: str) -> tuple[str, str]:
    """``(otel_family, family)``: the Prometheus family name of a metric registered with ``unit``.

    ``otel_family`` is what OTel's Prometheus exporter derives from the OTel
    instrument (name plus the base unit's word); ``family`` is what we show:
    the same, except that a name ending in its own unit's abbreviation has it
    replaced. Counter family names have no ``_total`` (their samples do).

    >>> family_names("request_latency", MetricType.HISTOGRAM, "ms")
    ('request_latency_seconds', 'request_latency_seconds')
    >>> family_names("kafka_processing_time_ms", MetricType.HISTOGRAM, "ms")
    ('kafka_processing_time_ms_seconds', 'kafka_processing_time_seconds')
    """
    word = _compat.map_unit(base_unit(unit)[0])
    name = name.lower()  # OTel instrument names are case-insensitive: the SDK lower-cases them
    otel_family = _with_unit(_compat.sanitize_full_name(name), metric_type, word)
    base = name
    for suffix in _NAME_SUFFIXES.get(unit, ()):
        if base.lower().endswith("_" + suffix) and len(base) > len(suffix) + 1:
            base = base[: -len(suffix) - 1]
            break
    return otel_family, _with_unit(_compat.sanitize_full_name(base), metric_type, word)


def otel_instrument_name(name: str, unit: str) -> str:
    """The OTel instrument name of a metric registered as ``name`` in ``unit``.

    OTel instruments carry base units (``ms`` is recorded as ``s``), so a name that
    spells its registered unit loses that suffix, or the name and the unit would
    disagree for every OTel reader (OTLP would receive ``kafka_processing_time_ms``
    in seconds). Other names are kept.

    >>> otel_instrument_name("kafka_processing_time_ms", "ms")
    'kafka_processing_time'
    >>> otel_instrument_name("request_latency", "ms")
    'request_latency'
    """
    mul, div = base_unit(unit)[1:]
    if (mul, div) == (1, 1):
        return name
    for suffix in _NAME_SUFFIXES.get(unit, ()):
        if name.lower().endswith("_" + suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix) - 1]
    return name


def _with_unit(family: str, metric_type: MetricType, word: str) -> str:
    if metric_type is MetricType.COUNTER and family.endswith("_total"):
        family = family[:-6]
    if word and not family.endswith("_" + word):
        family += "_" + word
    return family


#: The sample names each type's family shows in the exposition (prometheus_client writes no ``_created``
#: samples for these families).
_SAMPLE_SUFFIXES: dict[MetricType, tuple[str, ...]] = {
    MetricType.COUNTER: ("_total",), MetricType.GAUGE: ("",),
    MetricType.HISTOGRAM: ("_bucket", "_count", "_sum"), MetricType.SUMMARY: ("", "_count", "_sum"),
}


def sample_names(family: str, metric_type: MetricType) -> tuple[str, ...]:
    """The sample names a family of ``metric_type`` shows: a gauge ``a_count`` and a summary ``a`` share one.

    >>> sample_names("h", MetricType.HISTOGRAM)
    ('h_bucket', 'h_count', 'h_sum')
    """
    if metric_type is MetricType.COUNTER and family.endswith("_total"):
        family = family[:-6]
    return tuple(family + suffix for suffix in _SAMPLE_SUFFIXES[metric_type])


def prometheus_name(name: str, metric_type: MetricType, unit: str) -> str:
    """The name Prometheus shows for a metric registered with ``unit`` (counters: their sample's).

    >>> prometheus_name("request_latency", MetricType.HISTOGRAM, "ms")
    'request_latency_seconds'
    >>> prometheus_name("request_count", MetricType.COUNTER, "")
    'request_count_total'
    >>> prometheus_name("spark_memory_used_mb", MetricType.GAUGE, "MBy")
    'spark_memory_used_bytes'
    """
    family = family_names(name, metric_type, unit)[1]
    return family + "_total" if metric_type is MetricType.COUNTER else family
