"""Health statuses, what a check function may return, and how statuses combine.

A check function returns a ``bool``, a status string (``"healthy"``,
``"degraded"``, ``"unhealthy"``, ``"unknown"``, or a ``HealthStatus``), or a
dict with ``status`` plus details (``observed_value``, ``observed_unit``,
``output``, and any other JSON-friendly keys, kept under ``details``).
``normalise`` turns any of these into ``(status, output, details)``.

Worst wins when statuses combine: ``unhealthy`` > ``degraded`` > ``unknown`` >
``healthy``.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["HealthStatus", "IETF", "METRIC_VALUE", "iso", "normalise", "worst"]


class HealthStatus(str, enum.Enum):
    """The status of a check, a component or the whole system."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


_SEVERITY = {HealthStatus.HEALTHY: 0, HealthStatus.UNKNOWN: 1, HealthStatus.DEGRADED: 2, HealthStatus.UNHEALTHY: 3}
#: ``health_check_status`` gauge values.
METRIC_VALUE = {HealthStatus.HEALTHY: 1.0, HealthStatus.DEGRADED: 0.5, HealthStatus.UNHEALTHY: 0.0,
                HealthStatus.UNKNOWN: -1.0}
#: IETF health-check draft statuses. ``unknown`` is a warning: not known to be failing.
IETF = {HealthStatus.HEALTHY: "pass", HealthStatus.DEGRADED: "warn", HealthStatus.UNKNOWN: "warn",
        HealthStatus.UNHEALTHY: "fail"}
# Spellings a check may use besides the enum values (the IETF draft's and common synonyms).
_ALIASES = {"pass": HealthStatus.HEALTHY, "ok": HealthStatus.HEALTHY, "up": HealthStatus.HEALTHY,
            "warn": HealthStatus.DEGRADED, "fail": HealthStatus.UNHEALTHY, "down": HealthStatus.UNHEALTHY}
#: Longest ``output`` kept from a check (an exception's text can be huge).
MAX_OUTPUT = 2_000
_DETAIL_KEYS = ("observed_value", "observed_unit", "output", "status")


def worst(statuses: Iterable[HealthStatus], default: HealthStatus = HealthStatus.HEALTHY) -> HealthStatus:
    """The worst of ``statuses`` (``default`` when there are none)."""
    result = None
    for status in statuses:
        if result is None or _SEVERITY[status] > _SEVERITY[result]:
            result = status
    return default if result is None else result


def parse_status(value: Any) -> HealthStatus | None:
    """A ``HealthStatus`` from an enum member, bool or string; None when it is none of these."""
    if isinstance(value, HealthStatus):
        return value
    if isinstance(value, bool):
        return HealthStatus.HEALTHY if value else HealthStatus.UNHEALTHY
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            return HealthStatus(text)
        except ValueError:
            return _ALIASES.get(text)
    return None


def normalise(value: Any) -> tuple[HealthStatus, str, dict[str, Any]]:
    """``(status, output, details)`` from what a check function returned.

    Something that is not a bool, a status or a dict with a status is ``unknown``,
    with an output that says what was returned (the check is misbuilt, not the
    component broken).
    """
    details: dict[str, Any] = {}
    if isinstance(value, Mapping):
        status = parse_status(value.get("status"))
        output = value.get("output")
        details = {k: v for k, v in value.items() if k not in ("status", "output")}
        if status is None:
            return (HealthStatus.UNKNOWN, f"check returned a dict whose status is {value.get('status')!r}; "
                    "expected healthy, degraded, unhealthy or unknown", _jsonable(details))
        return status, _clip("" if output is None else str(output)), _jsonable(details)
    status = parse_status(value)
    if status is None:
        return (HealthStatus.UNKNOWN, _clip(f"check returned {value!r}; expected a bool, a status string "
                                            "or a dict with 'status'"), {})
    return status, "", {}


def _clip(text: str) -> str:
    return text if len(text) <= MAX_OUTPUT else text[: MAX_OUTPUT - 1] + "…"


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    """Details as JSON can hold them: numbers stay numbers (NaN/inf become strings), the rest str()."""
    return {str(k): _value(v) for k, v in details.items()}


def _value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _value(v) for k, v in list(value.items())[:100]}
    if isinstance(value, (list, tuple)):
        return [_value(v) for v in value[:100]]
    return _clip(str(value))


def iso(epoch_s: float) -> str:
    """``2026-01-02T03:04:05.678Z`` (UTC, milliseconds)."""
    whole = int(epoch_s)
    millis = int((epoch_s - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"
