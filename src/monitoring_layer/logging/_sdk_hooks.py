"""Two hooks into private parts of the OTel logs SDK (1.45), each guarded.

1. ``scrub_first``: secrets must be gone before *any* processor sees a record,
   including records of other OTel loggers on the provider (instrumentation
   libraries) that the aggregator did not build. Processors run in the order
   they were added and the pipeline's batch processors come first, so a
   ``ScrubbingProcessor`` is put in front of them.

2. ``watch_batch_processors``: make the records that batch processors drop
   visible (``monitoring_layer._sdk_drops``), including processors a user
   added to the provider before the aggregator was built.

The attributes used are private (reached through ``monitoring_layer._compat``);
on an SDK without them nothing is wrapped and
``watch_batch_processors`` returns 0 (queries and statistics are unaffected:
the aggregator's store is fed synchronously, never through a queue).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk._logs import LogRecordProcessor

from monitoring_layer import _compat, _selfmon
from monitoring_layer._sdk_drops import count_drops

from monitoring_layer._scrub import Scrubber

__all__ = ["ScrubbingProcessor", "scrub_first", "watch_batch_processors"]


class ScrubbingProcessor(LogRecordProcessor):
    """Scrubs, in place, the records that the aggregator did not build itself."""

    def __init__(self, scrubber: Scrubber, own_scope: str) -> None:
        self._scrubber = scrubber
        self._own_scope = own_scope

    def on_emit(self, log_record: Any) -> None:
        scope = log_record.instrumentation_scope
        if scope is not None and scope.name == self._own_scope:
            return  # built from scrubbed parts already
        try:
            scrub_record(self._scrubber, log_record.log_record)
        except Exception as exc:  # noqa: BLE001
            _selfmon.fault("logs_scrub", exc, key=type(exc).__name__)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def scrub_record(scrubber: Scrubber, record: Any) -> None:
    """Redact an OTel log record's attributes and body in place."""
    if record.attributes:
        record.attributes = scrubber.mapping(record.attributes)
    body = record.body
    if isinstance(body, str):
        record.body = scrubber.text(body)
    elif isinstance(body, Mapping):
        record.body = scrubber.mapping(body)
    elif body is not None and not isinstance(body, (bool, int, float)):
        record.body = scrubber.value(body)


def scrub_first(logger_provider: Any, processor: ScrubbingProcessor) -> bool:
    """Put ``processor`` before every other processor of ``logger_provider``.

    Returns False (and adds nothing) when the provider's processors are not
    the SDK's sequential ones; the caller then scrubs only what it stores and
    must report the weaker protection.
    """
    return _compat.prepend_log_processor(logger_provider, processor)


def watch_batch_processors(logger_provider: Any) -> int:
    """Count the drops of every batch processor on ``logger_provider``; returns how many are watched."""
    return sum(count_drops(processor, "logs") for processor in _compat.log_processors(logger_provider))
