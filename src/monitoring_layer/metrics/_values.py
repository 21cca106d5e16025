"""Checking a recorded value: the slow path's faults (contained, raised under strict)."""

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
    return value
