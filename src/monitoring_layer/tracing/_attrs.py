"""Attribute keys, tag values OTel can hold, and the facade's span statuses.

The facade speaks in the spec's vocabulary (service, component, tags, status
``SUCCESS``/``ERROR``/``CANCELLED``); OTel speaks in attributes and status
codes. This module is the one translation between the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode

from monitoring_layer._status import ABANDONED, CANCELLED, FACADE_STATUS_ATTRIBUTE, TIMEOUT

__all__ = [
    "COMPONENT",
    "REQUEST_ID",
    "SERVICE",
    "STATUS",
    "INTERNAL_KEYS",
    "clean_attributes",
    "clean_value",
    "resolve_kind",
    "resolve_status",
]

# Span attributes the facade sets. Namespaced so they never clash with OTel
# semantic conventions or with the caller's own tags.
SERVICE = "monitoring.service"
COMPONENT = "monitoring.component"
REQUEST_ID = "monitoring.request_id"
#: The facade status when OTel's three status codes cannot say it (TIMEOUT, CANCELLED, ABANDONED);
#: ``monitoring_layer._status`` turns code + attribute into the one status word everything shows.
STATUS = FACADE_STATUS_ATTRIBUTE
INTERNAL_KEYS = frozenset({SERVICE, COMPONENT, REQUEST_ID, STATUS})

_SCALARS = (str, bool, int, float)


def clean_value(value: Any) -> Any:
    """``value`` as something an OTel attribute holds: scalars and homogeneous
    sequences of scalars pass, anything else (None, dicts, objects, mixed lists)
    becomes its ``str()``, so a tag is never silently dropped by the SDK."""
    if type(value) in _SCALARS:  # the common case, without isinstance's MRO walk
        return value
    if isinstance(value, _SCALARS):  # subclasses such as IntEnum
        return value
    if isinstance(value, (list, tuple)) and value:
        first = type(value[0])
        if first in _SCALARS and all(type(item) is first for item in value):
            return tuple(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def clean_attributes(attributes: Mapping[Any, Any] | None) -> dict[str, Any]:
    """A copy of ``attributes`` with string keys and values OTel can hold."""
    if not attributes:
        return {}
    return {key if type(key) is str else str(key): clean_value(value) for key, value in attributes.items()}


# status -> (OTel status code, facade status kept as an attribute or None)
_OK = Status(StatusCode.OK)
_STATUSES: dict[str, tuple[StatusCode, str | None]] = {
    # OTel: UNSET is "completed without error", the status instrumentation should leave on success;
    # OK is final and tells backends to suppress errors they would infer, so only an explicit "OK" sets it.
    "SUCCESS": (StatusCode.UNSET, None),
    "OK": (StatusCode.OK, None),
    "ERROR": (StatusCode.ERROR, None),
    "FAILED": (StatusCode.ERROR, None),
    "FAILURE": (StatusCode.ERROR, None),
    "TIMEOUT": (StatusCode.ERROR, TIMEOUT),
    # Not a failure of the work (OTel has no code for it): status stays UNSET,
    # the facade status is kept as the span attribute ``monitoring.status``.
    "CANCELLED": (StatusCode.UNSET, CANCELLED),
    "CANCELED": (StatusCode.UNSET, CANCELLED),
    "ABANDONED": (StatusCode.UNSET, ABANDONED),
}

#: Facade statuses accepted by ``end_span`` (case-insensitive).
STATUSES = tuple(_STATUSES)


def resolve_status(status: Any) -> tuple[StatusCode, str | None]:
    """``(OTel status code, facade status attribute or None)`` for ``status``.

    Raises ``ValueError`` for a status this module does not know.
    """
    found = _STATUSES.get(status)
    if found is not None:
        return found
    if isinstance(status, StatusCode):
        return status, None
    if isinstance(status, str):
        found = _STATUSES.get(status.strip().upper())
        if found is not None:
            return found
    raise ValueError(f"status={status!r} is not one of {', '.join(_STATUSES)}")


def ok_status() -> Status:
    """The shared ``Status(OK)`` (immutable, so one instance serves every span)."""
    return _OK


_KINDS: dict[str, SpanKind] = {
    "internal": SpanKind.INTERNAL,
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}


def resolve_kind(kind: Any, argument: str = "kind") -> SpanKind:
    """The OTel ``SpanKind`` for ``kind`` (a name, any case, or a ``SpanKind``); ``ValueError`` otherwise."""
    if isinstance(kind, SpanKind):
        return kind
    if isinstance(kind, str):
        found = _KINDS.get(kind.strip().lower())
        if found is not None:
            return found
    raise ValueError(f"{argument}={kind!r} is not one of {', '.join(_KINDS)}")
