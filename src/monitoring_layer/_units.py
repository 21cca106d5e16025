"""Metric units: the spec's spellings in UCUM (what OTel expects) and their base units.

An internal helper below every layer: the metrics facade stores and scales values
with it, and the alert engine writes Prometheus rules in the same base units
(``alerts/_promrules.py``), without reaching into the facade's internals.
"""

from __future__ import annotations

__all__ = ["base_unit", "ucum_unit"]


# Spec-style units and their UCUM spelling (what OTel expects; the Prometheus
# exporter then maps e.g. "MBy" to the "_megabytes" suffix).
_UCUM = {
    "b": "By", "byte": "By", "bytes": "By",
    "kb": "KBy", "mb": "MBy", "gb": "GBy", "tb": "TBy",
    "kib": "KiBy", "mib": "MiBy", "gib": "GiBy", "tib": "TiBy",
    "sec": "s", "second": "s", "seconds": "s",
    "millisecond": "ms", "milliseconds": "ms",
    "microsecond": "us", "microseconds": "us",
    "nanosecond": "ns", "nanoseconds": "ns",
    "percent": "%",
}


def ucum_unit(unit: object) -> str:
    """``unit`` in OTel/UCUM spelling: ``MB`` -> ``MBy``, ``GB`` -> ``GBy``, ``ms`` stays ``ms``."""
    if unit is None:
        return ""
    if not isinstance(unit, str):
        raise TypeError(f"unit must be a string, got {type(unit).__name__}")
    text = unit.strip()
    if len(text) > 63 or not text.isascii():
        raise ValueError(f"unit={unit!r} must be at most 63 ASCII characters")
    return _UCUM.get(text.lower(), text)


# OTel and Prometheus both prefer base units (seconds, bytes); promtool's lint
# refuses "_milliseconds" or "_megabytes". What OTel readers see is scaled to
# the base unit: (base unit, multiply by, divide by).
_BASE_UNITS: dict[str, tuple[str, int, int]] = {
    "ns": ("s", 1, 1_000_000_000), "us": ("s", 1, 1_000_000), "ms": ("s", 1, 1000),
    "min": ("s", 60, 1), "h": ("s", 3600, 1), "d": ("s", 86_400, 1),
    "KBy": ("By", 10**3, 1), "MBy": ("By", 10**6, 1), "GBy": ("By", 10**9, 1), "TBy": ("By", 10**12, 1),
    "KiBy": ("By", 2**10, 1), "MiBy": ("By", 2**20, 1), "GiBy": ("By", 2**30, 1), "TiBy": ("By", 2**40, 1),
}


def base_unit(unit: str) -> tuple[str, int, int]:
    """``(otel_unit, mul, div)``: OTel readers see ``value * mul / div`` in ``otel_unit``.

    >>> base_unit("ms")
    ('s', 1, 1000)
    >>> base_unit("1")
    ('1', 1, 1)
    """
    return _BASE_UNITS.get(unit, (unit, 1, 1))
