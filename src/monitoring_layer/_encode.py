"""Small helpers that turn OTel values into readable JSON values (an internal helper: imports only ``_safe``)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from monitoring_layer._safe import safe_text

__all__ = ["Packed", "attributes", "cached_resource_service", "duration_ms", "iso", "iso_second", "json_value", "level_name", "now_ns", "pack",
           "resource_service", "UNKNOWN_SERVICE", "unpack", "unpack_json", "write_report"]

NS_PER_DAY = 86_400 * 1_000_000_000
#: OTel's service name when none is set (the SDK's resource says "unknown_service:python").
UNKNOWN_SERVICE = "unknown_service"


def now_ns() -> int:
    return time.time_ns()


# The last second formatted, as (epoch second, "YYYY-MM-DDTHH:MM:SS."): records come in bursts
# within one second, so strftime runs about once a second instead of once a timestamp.
_LAST_SECOND: tuple[int, str] = (-1, "")


def iso(ns: int | None) -> str | None:
    """Epoch nanoseconds as ISO-8601 UTC with microseconds, e.g. ``2026-11-28T08:16:38.123456Z``."""
    global _LAST_SECOND
    if ns is None:
        return None
    micros = int(ns) // 1000
    seconds = micros // 1_000_000
    cached = _LAST_SECOND  # one read: another thread may replace it meanwhile
    if cached[0] != seconds:
        cached = _LAST_SECOND = (
            seconds, datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S."))
    return cached[1] + "%06dZ" % (micros % 1_000_000)


def iso_second() -> tuple[int, str]:
    """The second ``iso`` formatted last: ``(epoch second, "YYYY-MM-DDTHH:MM:SS.")``.

    For a caller formatting many timestamps (the traces writer): a timestamp in that second is
    ``prefix + "%06dZ" % (micros % 1_000_000)``, the text ``iso`` gives, without a call per timestamp.
    """
    return _LAST_SECOND


#: Below this many nanoseconds (about 104 days) a duration's nanoseconds are exact in a float.
_EXACT_NS = 2**53


def duration_ms(start_ns: int, end_ns: int) -> float:
    """The milliseconds from ``start_ns`` to ``end_ns``, to the nanosecond: ``round(elapsed / 1e6, 6)``.

    The division alone gives the same float for any duration under ``2**53`` ns: the exact
    quotient has at most 6 decimals and IEEE division rounds it to the nearest float, which is
    what ``round`` would return. ``round`` costs more than the rest of a span's timestamps
    together (it formats the number in decimal), so it runs only past that bound.
    """
    elapsed = end_ns - start_ns
    if -_EXACT_NS < elapsed < _EXACT_NS:
        return elapsed / 1e6
    return round(elapsed / 1e6, 6)


def json_value(value: Any) -> Any:
    """An OTel attribute or body value as something ``json.dumps`` accepts."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return repr(value)


def attributes(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    """OTel attributes as JSON values (a new dict; most are strings and integers already)."""
    if not attrs:
        return {}
    for value in attrs.values():
        kind = type(value)
        if kind is not str and kind is not int and kind is not bool:
            return {str(k): json_value(v) for k, v in attrs.items()}
    return dict(attrs)


def resource_service(resource: Any) -> str:
    if resource is None:
        return UNKNOWN_SERVICE
    return str(resource.attributes.get("service.name", UNKNOWN_SERVICE))


# Resources are few and long-lived (one per provider): their service name, by identity.
_SERVICES: dict[int, tuple[Any, str]] = {}


def cached_resource_service(resource: Any) -> str:
    """``resource_service``, remembered for the first 64 resources seen (a hot-path lookup)."""
    hit = _SERVICES.get(id(resource))
    if hit is not None and hit[0] is resource:
        return hit[1]
    name = resource_service(resource)
    if len(_SERVICES) < 64:
        _SERVICES[id(resource)] = (resource, name)
    return name


#: Attributes as kept by the in-memory stores: one flat tuple of the keys then the values,
#: ``(k1, k2, ..., v1, v2, ...)``, or None when there are none; a record may also end with them
#: (``unpack(record, start)``). Atoms only, so the garbage collector stops tracking the tuple at
#: its first collection; a dict would stay tracked inside a tuple (CPython keeps a tuple tracked
#: while it holds any dict), and so would every level of nested tuples until a collection has
#: passed over each: a store of tens of thousands of records would lengthen every full
#: collection in the host's threads (docs/benchmarks.md, step 26).
Packed = tuple


def pack(attrs: Mapping[str, Any] | None) -> Packed | None:
    """Attributes (values: str/bool/int/float or tuples of them) as a flat ``Packed`` tuple."""
    return (*attrs, *attrs.values()) if attrs else None


def unpack(packed: Packed | None, start: int = 0) -> dict[str, Any]:
    """The attributes at ``packed[start:]`` (keys then values), as a new dict."""
    if not packed:
        return {}
    middle = start + ((len(packed) - start) >> 1)
    return dict(zip(packed[start:middle], packed[middle:])) if middle > start else {}


def unpack_json(packed: Packed | None, start: int = 0) -> dict[str, Any]:
    """``attributes(unpack(packed, start))`` in one pass: the attributes as JSON values."""
    if not packed:
        return {}
    middle = start + ((len(packed) - start) >> 1)
    if middle == start:
        return {}
    values = packed[middle:]
    for value in values:
        kind = type(value)
        if kind is not str and kind is not int and kind is not bool:
            return {str(k): json_value(v) for k, v in zip(packed[start:middle], values)}
    return dict(zip(packed[start:middle], values))


_LEVELS = ((21, "CRITICAL"), (17, "ERROR"), (13, "WARNING"), (9, "INFO"), (5, "DEBUG"), (1, "TRACE"))


def level_name(severity_number: int | None) -> str:
    """The spec's level name for an OTel severity number (0/None: ``UNSPECIFIED``)."""
    for floor, name in _LEVELS:
        if severity_number is not None and severity_number >= floor:
            return name
    return "UNSPECIFIED"


def report_path(path: object) -> Path:
    """The ``path`` of an ``export_*(path)`` call as a ``Path``; ``TypeError``/``ValueError`` naming it otherwise."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, not {type(path).__name__}")
    target = Path(path)
    if "\x00" in str(target):
        raise ValueError("path must not contain a NUL character")
    if not target.name or target.name in (".", ".."):
        raise ValueError(f"path must name a file, not {str(path)!r}")
    return target


def write_report(path: str | os.PathLike[str], document: Any) -> Path:
    """Write ``document`` as indented JSON to ``path``, atomically and 0600; returns the path.

    For the ``export_*(path)`` calls: a one-off file the user names, so no lock file and no
    merge with what was there. A fresh temp file (``O_EXCL``, never through a symlink) is
    fsynced and renamed over the target; on failure it is removed and the error raised.
    Text with lone surrogates (recorded from ``os.fsdecode`` names) is written with U+FFFD.
    """
    target = report_path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(_utf8(json.dumps(document, indent=2, allow_nan=False, ensure_ascii=False) + "\n"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def _utf8(text: str) -> bytes:
    """``text`` as UTF-8; a lone surrogate (it cannot be encoded) becomes U+FFFD instead of failing the write."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return safe_text(text).encode("utf-8")
