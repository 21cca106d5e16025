"""The one status vocabulary of spans and traces: in ``traces.json``, the queries, the dashboard and the CLI.

OTel has three status codes (``UNSET``, ``OK``, ``ERROR``) and recommends
``UNSET`` for success; the tracing facade speaks the spec's words (``SUCCESS``,
``ERROR``, ``CANCELLED``, ...) and keeps the ones OTel cannot say in the span
attribute ``monitoring.status``. Everything that shows a status shows the
facade's word, computed here and nowhere else:

=====================  ==========================  =============
OTel status code       ``monitoring.status``       status
=====================  ==========================  =============
``UNSET`` or ``OK``    absent                      ``SUCCESS``
``UNSET`` or ``OK``    ``CANCELLED``               ``CANCELLED``
``UNSET`` or ``OK``    ``ABANDONED``               ``ABANDONED``
``ERROR``              absent                      ``ERROR``
``ERROR``              ``TIMEOUT``                 ``TIMEOUT``
(span not ended)                                   ``ACTIVE``
=====================  ==========================  =============

Any other ``monitoring.status`` value is ignored (the code decides), so a span
is in error exactly when its OTel code is ``ERROR``: ``ERROR`` or ``TIMEOUT``.
A trace is ``ERROR`` when any of its spans is in error, else ``SUCCESS``
(``ACTIVE`` in the queries while its local root span has not ended). The file
keeps OTel's own code beside the word, as ``otel_status_code``.

Files of schema 1 held OTel's code in a span's ``status`` and ``OK``/``ERROR``
for a trace; ``migrate_trace_record`` turns such a record into this vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

from opentelemetry.trace import StatusCode

__all__ = [
    "ABANDONED",
    "ACTIVE",
    "CANCELLED",
    "ERROR",
    "ERROR_STATUSES",
    "FACADE_STATUS_ATTRIBUTE",
    "OTEL_CODES",
    "SPAN_STATUSES",
    "SUCCESS",
    "TIMEOUT",
    "TRACE_STATUSES",
    "is_error",
    "migrate_trace_record",
    "otel_code_name",
    "parse_trace_status",
    "span_status",
    "trace_status",
]

SUCCESS = "SUCCESS"
ERROR = "ERROR"
TIMEOUT = "TIMEOUT"
CANCELLED = "CANCELLED"
ABANDONED = "ABANDONED"
ACTIVE = "ACTIVE"

#: The span attribute in which the tracing facade keeps the words OTel's codes cannot say.
FACADE_STATUS_ATTRIBUTE = "monitoring.status"
#: OTel's status code names, as ``otel_status_code`` holds them in the file.
OTEL_CODES = ("UNSET", "OK", "ERROR")
#: Every status an ended span can have (queries add ``ACTIVE`` for a span not ended).
SPAN_STATUSES = (SUCCESS, ERROR, TIMEOUT, CANCELLED, ABANDONED)
#: Every status a finished trace can have (queries add ``ACTIVE``).
TRACE_STATUSES = (SUCCESS, ERROR)
#: The span statuses that are errors: those whose OTel code is ``ERROR``.
ERROR_STATUSES = frozenset({ERROR, TIMEOUT})

# The facade word that refines each OTel outcome; anything else in the attribute is ignored.
_REFINES_ERROR = frozenset({TIMEOUT})
_REFINES_SUCCESS = frozenset({CANCELLED, ABANDONED})
# Every spelling of OTel's ERROR code that reaches span_status (the enum, its value, its name).
_ERROR_CODES = frozenset({StatusCode.ERROR, 2, "ERROR"})
_CODE_NAMES = {StatusCode.UNSET: "UNSET", StatusCode.OK: "OK", StatusCode.ERROR: "ERROR",
               0: "UNSET", 1: "OK", 2: "ERROR", "UNSET": "UNSET", "OK": "OK", "ERROR": "ERROR"}
# Accepted by the trace filters (dashboard, CLI): OK is the old file's word for a trace without error.
_TRACE_FILTER = {SUCCESS: SUCCESS, "OK": SUCCESS, ERROR: ERROR}


def otel_code_name(code: Any) -> str:
    """OTel's name for ``code`` (a ``StatusCode``, its int value or its name); ``UNSET`` when unknown."""
    try:
        return _CODE_NAMES.get(code, "UNSET")
    except TypeError:  # an unhashable value: nothing OTel would have written
        return "UNSET"


def span_status(otel_status_code: Any, facade_status: Any = None) -> str:
    """The status word of an ended span, from its OTel code and its ``monitoring.status`` attribute.

    >>> span_status(StatusCode.UNSET), span_status("OK"), span_status(StatusCode.UNSET, "CANCELLED")
    ('SUCCESS', 'SUCCESS', 'CANCELLED')
    """
    # On every span written or queried: two set lookups (the codes and words are hashable here).
    if otel_status_code in _ERROR_CODES:
        return facade_status if facade_status in _REFINES_ERROR else ERROR
    return facade_status if facade_status in _REFINES_SUCCESS else SUCCESS


def is_error(status: Any) -> bool:
    """Whether a span status word means the span failed (``ERROR``, ``TIMEOUT``)."""
    return status in ERROR_STATUSES


def trace_status(span_statuses: Iterable[Any], *, ended: bool = True) -> str:
    """A trace's status: ``ERROR`` when any span is in error, else ``SUCCESS``; ``ACTIVE`` when not ``ended``."""
    if not ended:
        return ACTIVE
    return SUCCESS if ERROR_STATUSES.isdisjoint(span_statuses) else ERROR


def parse_trace_status(value: Any, argument: str = "status") -> str:
    """A trace status filter (``SUCCESS`` or ``ERROR``, any case; ``OK`` means ``SUCCESS``).

    Raises ``ValueError`` naming ``argument`` for anything else.
    """
    found = _TRACE_FILTER.get(value.strip().upper()) if isinstance(value, str) else None
    if found is None:
        raise ValueError(f"{argument} must be SUCCESS or ERROR (any case; OK means SUCCESS), got {value!r}")
    return found


def migrate_trace_record(trace: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A ``traces.json`` trace record of schema 1 in this vocabulary, changed in place (and returned).

    Each span without ``otel_status_code`` held OTel's code in ``status``: the code
    moves there and ``status`` becomes the word; the trace's status is recomputed.
    A record already in this vocabulary is returned unchanged, so reading twice is harmless.
    """
    spans = trace.get("spans")
    if not isinstance(spans, list):
        return trace
    changed = False
    for span in spans:
        if not isinstance(span, MutableMapping) or "otel_status_code" in span:
            continue
        code = otel_code_name(span.get("status"))
        attrs = span.get("attributes")
        facade = attrs.get(FACADE_STATUS_ATTRIBUTE) if isinstance(attrs, MutableMapping) else None
        if not isinstance(facade, str):  # a hand-edited file: only a word can refine the code
            facade = None
        span["otel_status_code"] = code
        span["status"] = span_status(code, facade)
        changed = True
    if changed or trace.get("status") not in TRACE_STATUSES:
        words = [s.get("status") for s in spans if isinstance(s, MutableMapping)]
        trace["status"] = trace_status(w for w in words if isinstance(w, str))
    return trace
