"""Bridge from stdlib ``logging`` into the aggregator, without loops.

``AggregatorHandler`` is a ``logging.Handler`` that turns each record into an
aggregator record (component = logger name, ``exc_info`` into ``exception.*``,
``extra=`` fields into attributes). It never feeds back into itself:

* records of the ``monitoring_layer`` logger (the library's diagnostics) and
  of ``opentelemetry`` loggers (the SDK's, e.g. "Queue full, dropping Log.")
  are skipped, so a fault while recording cannot be recorded again;
* a thread already inside the handler skips further records (a processor or
  exporter that logs while it is called from our emit);
* one record reaching the aggregator's handlers twice (on a logger and on
  its parent) is recorded once.

It takes no lock of its own, so a handler that logs while an exporter thread
exports cannot deadlock against it.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import TYPE_CHECKING

from monitoring_layer import _selfmon

if TYPE_CHECKING:
    from .log_aggregator import LogAggregator

__all__ = ["AggregatorHandler", "LoggingCapture"]

_SKIPPED = ("monitoring_layer", "opentelemetry")
_SKIPPED_DOTTED = tuple(prefix + "." for prefix in _SKIPPED)


class AggregatorHandler(logging.Handler):
    """A ``logging.Handler`` that records into a ``LogAggregator``."""

    def __init__(self, aggregator: LogAggregator, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._aggregator = aggregator
        # Shared by all handlers of one aggregator: a record that reaches two of
        # them (create_python_logger's and capture_logging's) is recorded once.
        self._local = aggregator._bridge_state  # noqa: SLF001

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        # No handler lock (logging.Handler.handle takes one): the aggregator is thread-safe.
        if _is_skipped(record.name):
            return False
        local = self._local
        if getattr(local, "busy", False) or getattr(local, "last", None) is record:
            return False
        if not self.filter(record):
            return False
        local.busy = True
        local.last = record
        try:
            self.emit(record)
        finally:
            local.busy = False
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._aggregator._emit_python(record)  # noqa: SLF001
        except Exception as exc:  # noqa: BLE001 - e.g. a bad %-format in the caller's message
            _selfmon.fault("logs_bridge", exc, key=record.name)


def _is_skipped(name: str) -> bool:
    """True for the library's and OTel's own loggers (``monitoring_layer``, ``opentelemetry.*``)."""
    return name.startswith(_SKIPPED) and (name in _SKIPPED or name.startswith(_SKIPPED_DOTTED))


class LoggingCapture:
    """A bridge installed by ``LogAggregator.capture_logging``; ``stop()`` removes it."""

    def __init__(self, logger: logging.Logger, handler: AggregatorHandler) -> None:
        self.logger = logger
        self.handler = handler

    def stop(self) -> None:
        """Remove the bridge (safe to call twice)."""
        self.logger.removeHandler(self.handler)

    def __enter__(self) -> LoggingCapture:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<LoggingCapture {self.logger.name!r} level={logging.getLevelName(self.handler.level)}>"
