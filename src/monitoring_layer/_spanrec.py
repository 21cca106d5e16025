"""Ended spans as compact records: what the trace store keeps and the span file exporter buffers.

An SDK ``ReadableSpan`` is a dozen objects that the garbage collector tracks
(the span, its context and parent context, trace state, status, attribute
mapping, event and link lists...). A store of 10,000 traces of 6 spans holds
about 700,000 of them, and every full collection walks them all in whatever
thread triggers it: pauses of a few hundred milliseconds in the host's
threads. A record here is one plain ``tuple`` of strings, numbers, plain
dicts and tuples of those: CPython stops tracking such tuples and dicts after
their first collection, so retained records cost the collector nothing.
A record ends with its attributes, keys then values (``attributes_of``): atoms in the record
itself, not a nested container (a tuple holding a dict stays tracked, and each level of nested
tuples costs the collector one more pass before it stops tracking them). Events and links keep
theirs as ``_encode.pack`` tuples.

Fields are read by index (the ``F_*`` constants): a named tuple would be a
tuple subclass, which the collector keeps tracking.

Internal helper (lowest layer): imports ``_compat`` and ``_encode`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import SpanKind, StatusCode

from monitoring_layer import _compat
from monitoring_layer._encode import Packed, cached_resource_service, pack, unpack

__all__ = ["Packed", "SERVICE_ATTRIBUTE", "SpanRecord", "attributes_of", "packed_attributes", "record_of",
           "record_of_active"]

#: A compact span: see the ``F_*`` indices.
SpanRecord = tuple

#: ``F_ATTRIBUTES`` is where the attributes start: ``record[F_ATTRIBUTES:]`` is the keys, then the values.
(F_TRACE_ID, F_SPAN_ID, F_PARENT_ID, F_PARENT_REMOTE, F_NAME, F_KIND, F_START, F_END, F_STATUS,
 F_STATUS_MESSAGE, F_EVENTS, F_LINKS, F_SCOPE, F_RESOURCE_SERVICE, F_ATTRIBUTES) = range(15)

#: The attribute in which the tracing facade names a trace's service (beats the resource's).
SERVICE_ATTRIBUTE = "monitoring.service"

_plain = pack


def attributes_of(record: SpanRecord) -> dict[str, Any]:
    """A record's attributes, as a new dict."""
    return unpack(record, F_ATTRIBUTES)


#: The attributes of an event or a link (a ``_encode.pack`` tuple), as a new dict.
packed_attributes = unpack


_KIND_NAMES = {kind: kind.name for kind in SpanKind}
_STATUS_NAMES = {code: code.name for code in StatusCode}
#: The attribute under which a span's record is kept once made: the trace store makes it as
#: the span ends, the span file exporter finds it a moment later instead of making it again.
_STASH = "_monitoring_record"


def _build(span: Any, attributes: Mapping[str, Any], events: Any, links: Any, end: int | None) -> SpanRecord:
    ctx = span.context
    parent = span.parent
    scope = span.instrumentation_scope
    status = span.status
    return (
        ctx.trace_id,
        ctx.span_id,
        parent.span_id if parent is not None else None,
        bool(parent.is_remote) if parent is not None else False,
        span.name,
        _KIND_NAMES.get(span.kind) or span.kind.name,
        span.start_time or 0,
        end,
        _STATUS_NAMES.get(status.status_code) or status.status_code.name,
        status.description,
        tuple((e.name, e.timestamp, _plain(e.attributes)) for e in events) if events else (),
        tuple((link.context.trace_id, link.context.span_id, _plain(link.attributes)) for link in links)
        if links else (),
        scope.name if scope is not None else None,
        cached_resource_service(span.resource),
        *attributes,
        *attributes.values(),
    )


def record_of(span: Any) -> SpanRecord:
    """The record of an ended ``ReadableSpan`` (its containers are frozen: read without copies)."""
    record: SpanRecord | None = getattr(span, _STASH, None)
    if record is not None:
        return record
    attributes, events, links = _compat.span_parts(span)
    start = span.start_time or 0
    record = _build(span, attributes, events, links, span.end_time or start)
    try:
        setattr(span, _STASH, record)
    except AttributeError:  # a span class with slots: each reader makes its own
        pass
    return record


def record_of_active(span: Any) -> SpanRecord:
    """The record of a span still running (``F_END`` is None), copied through its public properties."""
    for _ in range(3):  # another thread may add an attribute while we copy them
        try:
            return _build(span, dict(span.attributes or {}), list(span.events), list(span.links), None)
        except RuntimeError:
            continue
    return _build(span, {}, (), (), None)
