"""Checking a recorded value: the slow path's faults (contained, raised under strict)."""

from __future__ import annotations

import math
import numbers
from typing import Any

from monitoring_layer import _selfmon

from ._names import MetricType

__all__ = ["checked_value"]

_NUMBERS = frozenset({int, float})


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
    if not math.isfinite(value):
        _selfmon.fault("metric_value", ValueError(
            f"{kind.value} {name!r} was given {value!r}, not a finite number (the value was dropped)"), key=name)
        return None
    if kind is MetricType.COUNTER and value < 0:
        _selfmon.fault("metric_value", ValueError(
            f"counter {name!r} was given a negative increment {value!r}; counters only go up "
            "(use a gauge for values that go down; the value was dropped)"), key=name)
        return None
    return value
