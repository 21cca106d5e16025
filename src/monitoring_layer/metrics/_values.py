"""Checking a recorded value: the slow path's faults (contained, raised under strict).

Refused (dropped, ``errors{kind="metric_value"}``, logged once per metric): a non-number, a non-finite
value, a negative counter increment, and a negative histogram or summary value (also counted in
``dropped{signal="metrics",reason="negative_value"}``).
"""

from __future__ import annotations

import math
import numbers
import sys
from typing import Any

from monitoring_layer import _selfmon

from ._names import MetricType

__all__ = ["checked_value"]

_NUMBERS = frozenset({int, float})
_MAX = sys.float_info.max
# Both are OTel histograms (a summary's quantiles are the facade's, its OTLP points the SDK's).
_HISTOGRAMS = frozenset({MetricType.HISTOGRAM, MetricType.SUMMARY})


def checked_value(kind: MetricType, value: Any, name: str) -> float | None:
    """The value as a number, or None after a contained fault (raised under strict)."""
    if isinstance(value, bool):
        value = int(value)
    if value.__class__ not in _NUMBERS:
        try:
            if not isinstance(value, numbers.Real):
                raise TypeError
            value = float(value)
        except (TypeError, ValueError):
            _selfmon.fault("metric_value", TypeError(
                f"{kind.value} {name!r} was given {value!r} ({type(value).__name__}), not a number "
                "(the value was dropped)"), key=name)
            return None
    # An int beyond the float range (10**400) is no finite float either (math.isfinite would raise).
    if not (-_MAX <= value <= _MAX if value.__class__ is int else math.isfinite(value)):
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:20]}... ({len(repr(value))} digits)"
        _selfmon.fault("metric_value", ValueError(
            f"{kind.value} {name!r} was given {shown}, not a finite number (the value was dropped)"), key=name)
        return None
    if kind is MetricType.COUNTER and value < 0:
        _selfmon.fault("metric_value", ValueError(
            f"counter {name!r} was given a negative increment {value!r}; counters only go up "
            "(use a gauge for values that go down; the value was dropped)"), key=name)
        return None
    if kind in _HISTOGRAMS and value < 0:
        # The OTel SDK drops a negative histogram value (warning each time), so OTLP and the
        # exposition would leave out what the statistics kept: refuse it here, for every reader.
        _selfmon.dropped("metrics", "negative_value")
        _selfmon.fault("metric_value", ValueError(
            f"{kind.value} {name!r} was given a negative value {value!r}; OTel histograms only take "
            "values >= 0 (use a gauge, or record an offset value; the value was dropped)"), key=name)
        return None
    return value
