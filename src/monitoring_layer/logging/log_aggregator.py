"""``LogAggregator``: the spec's log API as a thin facade over an OTel ``LoggerProvider``.

Every call makes one OTel log record (severity number and text per the OTel
data model, attributes ``component`` and ``exception.*``) and emits it on the
provider, so every processor and exporter there gets it: the JSON file,
OTLP, a user's own. Queries are answered by the ``LogStore`` processor the
aggregator adds to the provider.

``get_log_aggregator()`` returns the process-wide aggregator on
``get_pipeline()``; tests and applications with their own provider build
``LogAggregator(provider)``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import ReadWriteLogRecord

from monitoring_layer import _compat, _selfmon
from monitoring_layer.types import LogRecordDict
from monitoring_layer._process_wide import ProcessWide
from monitoring_layer._version import __version__
from monitoring_layer.config import Settings, get_settings

from . import _levels
from ._bridge import AggregatorHandler, LoggingCapture
from ._sdk_hooks import ScrubbingProcessor, scrub_first, watch_batch_processors
from ._levels import Level, parse_level
from monitoring_layer._scrub import REDACTED, Scrubber, exception_attributes
from ._store import LogStore, searchable_text

__all__ = ["LogAggregator", "get_log_aggregator"]

#: Instrumentation scope of the aggregator's records.
SCOPE = "monitoring_layer.logs"
#: Keyword fields kept per record besides ``component`` (OTel's default attribute limit is 128).
MAX_FIELDS = 127

_RESERVED_PREFIXES = ("monitoring_layer", "opentelemetry")

# Building ReadWriteLogRecord through its constructor wraps the attributes in a
# BoundedAttributes (a lock and a per-value type check: ~6 us, most of an
# emit). Our attributes are already cleaned and bounded, so when the SDK's
# record has exactly the fields we know we fill it directly.
_RW_FIELDS = {"log_record", "resource", "instrumentation_scope", "limits"}
_FAST_RECORD = {f.name for f in dataclasses.fields(ReadWriteLogRecord)} == _RW_FIELDS
_new_record = ReadWriteLogRecord.__new__


class _LogRecord(LogRecord):
    """OTel's API ``LogRecord`` with a cheap shallow copy.

    Every ``BatchLogRecordProcessor`` shallow-copies each record
    (``copy.copy``) to drop its context; the generic path through
    ``__reduce_ex__`` costs about as much as building the record.
    """

    def __copy__(self) -> _LogRecord:
        copied = object.__new__(type(self))
        copied.__dict__.update(self.__dict__)
        return copied


class LogAggregator:
    """Centralised logging over an OTel ``LoggerProvider``.

    >>> logs = LogAggregator(provider)                                  # doctest: +SKIP
    >>> logs.error("database", "Connection failed", exception="TimeoutError")  # doctest: +SKIP
    >>> logs.get_error_summary()                                        # doctest: +SKIP
    {'TimeoutError': 1}

    ``max_records`` bounds the in-memory store (default: setting
    ``logs_memory_max_records``); ``redact_keys`` adds sensitive key words to
    the defaults and to setting ``logs_redact_keys``; messages and string
    attributes longer than ``max_message_length`` characters are cut.
    """

    def __init__(
        self,
        logger_provider: Any,
        *,
        settings: Settings | None = None,
        max_records: int | None = None,
        max_message_length: int = 32 * 1024,
        redact_keys: tuple[str, ...] | list[str] = (),
    ) -> None:
        if not hasattr(logger_provider, "get_logger"):
            raise TypeError(
                f"logger_provider must be an OTel LoggerProvider, got {type(logger_provider).__name__}")
        settings = settings or get_settings()
        max_records = settings.logs_memory_max_records if max_records is None else max_records
        if isinstance(max_records, bool) or not isinstance(max_records, int) or max_records <= 0:
            raise ValueError(f"max_records={max_records!r} must be an integer > 0")
        if isinstance(redact_keys, str):
            raise TypeError("redact_keys must be a list of strings, not one string")
        self._scrubber = Scrubber((*settings.logs_redact_keys, *redact_keys), max_message_length)
        self._max_length = self._scrubber.max_length
        self._store = LogStore(max_records, self._scrubber, SCOPE)
        self._provider = logger_provider
        self._lock = threading.Lock()
        self._handler: AggregatorHandler | None = None
        self._bridge_state = threading.local()  # the stdlib bridge's per-thread guard
        # A NoOp provider (OTEL_SDK_DISABLED) takes no processors: record nothing, answer empty.
        self._enabled = hasattr(logger_provider, "add_log_record_processor")
        self._logger: Any = None
        if self._enabled:
            # Records of other OTel loggers on the provider are scrubbed before any
            # processor (exporters included) sees them; failing that, before we keep them.
            if scrub_first(logger_provider, ScrubbingProcessor(self._scrubber, SCOPE)):
                self._store.scrub_foreign = False
            else:  # a weaker protection must never be silent
                _selfmon.fault(
                    "compat", "scrub-first could not be installed on the LoggerProvider "
                    f"({type(logger_provider).__name__}): records of other OTel loggers (instrumentation "
                    "libraries) reach the JSON and OTLP exporters UNREDACTED; only what the log aggregator "
                    "stores is scrubbed", key="scrub_first", strict=False)
            logger_provider.add_log_record_processor(self._store)
            self.watched_processors = watch_batch_processors(logger_provider)
            self._logger = logger_provider.get_logger(SCOPE, __version__)
            self._scope = self._logger.instrumentation_scope
            self._store.own_scope_object = self._scope
            self._limits = _compat.logger_limits(self._logger)
        else:
            self.watched_processors = 0

    # -- recording ----------------------------------------------------------------------

    def debug(self, component: str, message: Any, **fields: Any) -> None:
        """Record a DEBUG message of ``component``; keywords become attributes."""
        self._emit(_levels.DEBUG, component, message, fields)

    def info(self, component: str, message: Any, **fields: Any) -> None:
        """Record an INFO message: ``logs.info("api", "Request received", trace_id="trace_123")``."""
        self._emit(_levels.INFO, component, message, fields)

    def warning(self, component: str, message: Any, **fields: Any) -> None:
        """Record a WARNING message of ``component``."""
        self._emit(_levels.WARNING, component, message, fields)

    def error(self, component: str, message: Any, **fields: Any) -> None:
        """Record an ERROR: ``logs.error("database", "Connection failed", exception="TimeoutError")``.

        ``exception`` may be an exception instance (type, message and stack
        trace are kept), an exception class or a type name.
        """
        self._emit(_levels.ERROR, component, message, fields)

    def critical(self, component: str, message: Any, **fields: Any) -> None:
        """Record a CRITICAL message of ``component``."""
        self._emit(_levels.CRITICAL, component, message, fields)

    def log(self, level: str | int, component: str, message: Any, **fields: Any) -> None:
        """Record at ``level`` (a name in any case or a ``logging`` number); unknown names raise ``ValueError``."""
        self._emit(parse_level(level), component, message, fields)

    def _emit(self, level: Level, component: Any, message: Any, fields: dict[str, Any],
              timestamp: int | None = None) -> None:
        if not self._enabled:
            return
        try:
            if type(component) is not str:
                component = str(component)
            if (type(message) is not str or len(message) > self._max_length
                    or "=" in message or ":" in message or "AKIA" in message or "ASIA" in message):
                message = self._scrubber.message(message)
            attributes = self._attributes(component, fields) if fields else {"component": component}
            now = time.time_ns()
            record = _LogRecord(
                timestamp=timestamp or now,
                observed_timestamp=now,
                severity_number=level.severity,
                severity_text=level.text,
                body=message,
                attributes=attributes,
            )
            logger = self._logger
            if _FAST_RECORD:
                writable = _new_record(ReadWriteLogRecord)
                writable.log_record = record
                writable.resource = logger.resource
                writable.instrumentation_scope = self._scope
                writable.limits = self._limits
                logger.emit(writable)
            else:  # pragma: no cover - an SDK whose record we do not know
                logger.emit(record)
        except Exception as exc:  # noqa: BLE001 - logging must never break the caller
            _selfmon.fault("logs_record", exc, key=type(exc).__name__)

    def _attributes(self, component: str, fields: dict[str, Any]) -> dict[str, Any]:
        scrubber = self._scrubber
        attributes: dict[str, Any] = {"component": component}
        if len(fields) > MAX_FIELDS:
            _selfmon.dropped("logs", "attribute_limit", len(fields) - MAX_FIELDS)
            fields = dict(list(fields.items())[:MAX_FIELDS])
        for key, value in fields.items():
            if key == "exception" or key == "exc_info":
                exc = _exception_of(value) if key == "exc_info" else value
                if exc is not None:
                    for name, text in exception_attributes(exc).items():
                        attributes[name] = scrubber.text(text)
            elif scrubber.sensitive(key):
                attributes[key] = REDACTED
            else:
                attributes[key] = scrubber.value(value)
        return attributes

    # -- queries ------------------------------------------------------------------------

    def get_logs(
        self,
        component: str | None = None,
        level: str | int | None = None,
        limit: int = 100,
        since: datetime | timedelta | float | int | None = None,
        trace_id: str | None = None,
    ) -> list[LogRecordDict]:
        """Kept records, newest first.

        ``level`` is a *minimum*: ``level="WARNING"`` returns WARNING, ERROR and
        CRITICAL records (names in any case, or ``logging`` numbers).
        ``since`` is a datetime (naive means UTC), epoch seconds, or a
        timedelta meaning "within the last ...". ``trace_id`` matches the
        OTel trace id of the record (32 hex digits) or a ``trace_id=`` field.
        """
        return self._store.query(
            component=_check_component(component),
            min_severity=parse_level(level).severity_number if level is not None else 0,
            since_ns=_since_ns(since),
            trace_id=trace_id,
            limit=_check_limit(limit),
        )

    def get_component_logs(self, component: str, limit: int = 50) -> list[LogRecordDict]:
        """The newest ``limit`` records of ``component`` (from its index)."""
        if not isinstance(component, str):
            raise TypeError(f"component must be a string, got {type(component).__name__}")
        return self._store.query(component=component, limit=_check_limit(limit))

    def search_logs(
        self, query: str, component: str | None = None, level: str | int | None = None, limit: int = 100
    ) -> list[LogRecordDict]:
        """Full-text search over messages and string attributes, newest first.

        Case-insensitive; every word must occur as a substring (``"timeout"``
        finds ``exception.type="TimeoutError"``); a ``"quoted phrase"`` must
        occur as written (spacing included). An empty query matches every record.
        """
        if not isinstance(query, str):
            raise TypeError(f"query must be a string, got {type(query).__name__}")
        terms = [(phrase if phrase else word).lower()
                 for phrase, word in re.findall(r'"([^"]*)"|(\S+)', query)]
        terms = [t for t in terms if t]

        def match(entry: Any) -> bool:
            text = searchable_text(entry)
            return all(term in text for term in terms)

        return self._store.query(
            component=_check_component(component),
            min_severity=parse_level(level).severity_number if level is not None else 0,
            match=match if terms else None,
            limit=_check_limit(limit),
        )

    def get_error_summary(self) -> dict[str, int]:
        """``{exception type: count}`` over every ERROR and CRITICAL record since start.

        Records without an exception count under ``"Error"``. Running totals:
        records evicted from memory still count. Most frequent first.
        """
        return self._store.error_summary()

    def get_log_statistics(self) -> dict[str, Any]:
        """Running totals since start and the state of the bounds.

        ``total``, ``by_level`` (all five levels), ``by_component``,
        ``errors`` (ERROR + CRITICAL), ``error_rate`` (errors / total),
        ``logs_per_hour`` (``last_hour``: records in the last 60 minutes;
        ``since_start``: the average rate), ``in_memory``,
        ``evicted_from_memory`` and ``dropped`` (``{reason: n}`` of
        ``monitoring_layer_dropped_total{signal="logs"}``, e.g. ``queue_full``
        when an exporter's batch queue overflowed).
        """
        self._store.force_flush()
        stats = self._store.statistics()
        stats["dropped"] = {reason: n for (signal, reason), n in _selfmon.counts()["dropped"].items()
                            if signal == "logs"}
        return stats

    # -- stdlib logging ---------------------------------------------------------------

    def create_python_logger(self, name: str) -> logging.Logger:
        """A standard ``logging.Logger`` whose records reach this aggregator with ``component=name``.

        The logger's level is set to DEBUG when it had none (so ``info()``
        is not filtered by the root's WARNING); records still propagate to the
        handlers of parent loggers as usual. ``exc_info=True`` fills the
        ``exception.*`` attributes.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name={name!r} must be a non-empty string")
        if name.split(".")[0] in _RESERVED_PREFIXES:
            raise ValueError(f"name={name!r} is reserved for monitoring-layer's and OTel's own diagnostics")
        logger = logging.getLogger(name)
        handler = self._python_handler()
        if handler not in logger.handlers:
            logger.addHandler(handler)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.DEBUG)
        return logger

    def capture_logging(self, level: str | int = logging.INFO, logger: str | None = None) -> LoggingCapture:
        """Bridge existing stdlib loggers: records at ``level`` and above that reach
        ``logger`` (default: the root, i.e. every propagating logger) are recorded
        with ``component`` = the logger's name.

        Records of monitoring-layer's own logger and of OTel's are never bridged.
        Returns a handle; ``.stop()`` (or leaving it as a context manager) removes the bridge.
        """
        chosen = parse_level(level)  # validates names and numbers alike
        stdlib_level = level if isinstance(level, int) and not isinstance(level, bool) else chosen.stdlib
        handler = AggregatorHandler(self, level=stdlib_level)
        target = logging.getLogger(logger)
        target.addHandler(handler)
        return LoggingCapture(target, handler)

    def _python_handler(self) -> AggregatorHandler:
        with self._lock:
            if self._handler is None:
                self._handler = AggregatorHandler(self)
            return self._handler

    # -- internals used by the bridge ----------------------------------------------------

    def _emit_python(self, record: logging.LogRecord) -> None:
        fields: dict[str, Any] = {
            "code.file.path": record.pathname,
            "code.function.name": record.funcName,
            "code.line.number": record.lineno,
        }
        if record.exc_info and record.exc_info[1] is not None:
            fields["exception"] = record.exc_info[1]
        extra = _extra_fields(record)
        if extra:
            fields.update(extra)
        self._emit(_levels.level_of(record.levelno), record.name, record.getMessage(), fields,
                   timestamp=int(record.created * 1e9))

    @property
    def store(self) -> LogStore:
        """The in-memory store (an OTel ``LogRecordProcessor``) answering the queries."""
        return self._store


_BARE_RECORD_KEYS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)))
# What a formatter adds ("message", "asctime"), and what newer Pythons set ("taskName", 3.12).
_STANDARD_RECORD_KEYS = _BARE_RECORD_KEYS | {"message", "asctime", "taskName"}


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """Fields given through ``extra=`` (not the standard ``LogRecord`` ones)."""
    values = vars(record)
    if len(values) <= len(_BARE_RECORD_KEYS):  # the fast path: a plain record has no extra
        return {}
    return {k: v for k, v in values.items() if k not in _STANDARD_RECORD_KEYS and not k.startswith("_")}


def _exception_of(value: Any) -> BaseException | None:
    if isinstance(value, BaseException):
        return value
    if value is True:
        return sys.exc_info()[1]
    if isinstance(value, tuple) and len(value) == 3:
        return value[1]
    return None


def _check_component(component: Any) -> str | None:
    if component is not None and not isinstance(component, str):
        raise TypeError(f"component must be a string or None, got {type(component).__name__}")
    return component


def _check_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limit={limit!r} must be an integer >= 0")
    return limit


def _since_ns(since: Any) -> int | None:
    if since is None:
        return None
    if isinstance(since, timedelta):
        return time.time_ns() - int(since.total_seconds() * 1e9)
    if isinstance(since, datetime):
        if since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
        return int(since.timestamp() * 1e9)
    if isinstance(since, (int, float)) and not isinstance(since, bool):
        try:
            return int(since * 1e9)
        except (OverflowError, ValueError):  # inf, nan, 10**400
            raise ValueError(f"since must be finite epoch seconds, got {since!r}") from None
    raise TypeError(f"since must be a datetime, timedelta or epoch seconds, got {type(since).__name__}")


# --------------------------------------------------------------------------- process-wide

#: Built by ``monitoring_layer._defaults`` on the process-wide pipeline (this layer never imports it).
_AGGREGATOR: ProcessWide[LogAggregator] = ProcessWide(None, what="get_log_aggregator()")


def get_log_aggregator() -> LogAggregator:
    """The process-wide log aggregator, on ``get_pipeline()``'s logger provider."""
    return _AGGREGATOR.get()
