"""Stdlib logging into the log aggregator: create_python_logger, capture_logging, no loops."""

from __future__ import annotations

import logging
import threading

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor

from monitoring_layer import LogAggregator, _selfmon


@pytest.fixture
def logs(pipeline):
    return LogAggregator(pipeline.logger_provider, settings=pipeline.settings)


@pytest.fixture
def fresh_loggers():
    """Loggers made by a test lose their handlers and levels afterwards."""
    names: list[str] = []
    yield names
    for name in [*names, None]:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if type(handler).__name__ == "AggregatorHandler":
                logger.removeHandler(handler)
        if name is not None:
            logger.setLevel(logging.NOTSET)


def test_python_logger_records_reach_the_aggregator(logs, fresh_loggers):
    fresh_loggers.append("my_component")
    logger = logs.create_python_logger("my_component")
    assert isinstance(logger, logging.Logger)
    logger.info("Processing started")
    try:
        raise KeyError("missing column")
    except KeyError:
        logger.error("Processing failed", exc_info=True)
    logger.warning("rows=%d skipped", 3, extra={"batch_id": "b7", "password": "pw"})

    warning, failed, started = logs.get_component_logs("my_component")
    assert started["message"] == "Processing started" and started["level"] == "INFO"
    assert failed["level"] == "ERROR"
    assert failed["attributes"]["exception.type"] == "KeyError"
    assert failed["attributes"]["exception.message"] == "'missing column'"
    assert 'raise KeyError("missing column")' in failed["attributes"]["exception.stacktrace"]
    assert failed["attributes"]["code.function.name"] == "test_python_logger_records_reach_the_aggregator"
    assert warning["message"] == "rows=3 skipped"
    assert warning["attributes"]["batch_id"] == "b7" and warning["attributes"]["password"] == "[REDACTED]"
    assert logs.get_error_summary() == {"KeyError": 1}
    # Asking again gives the same logger with one handler, not two.
    assert logs.create_python_logger("my_component") is logger
    logger.info("once")
    assert [r["message"] for r in logs.search_logs("once")] == ["once"]


def test_reserved_names_are_refused(logs):
    for name in ("monitoring_layer", "monitoring_layer.x", "opentelemetry.sdk", ""):
        with pytest.raises(ValueError, match="name="):
            logs.create_python_logger(name)


def test_capture_logging_bridges_existing_loggers(logs, fresh_loggers):
    fresh_loggers.extend(["legacy.etl", "my_component"])
    legacy = logging.getLogger("legacy.etl")
    legacy.setLevel(logging.DEBUG)
    mine = logs.create_python_logger("my_component")
    with logs.capture_logging(level="info") as capture:
        assert capture.handler in logging.getLogger().handlers
        legacy.debug("below the bridge level")
        legacy.info("loaded %s rows", 10)
        mine.info("mine, once")  # reaches two aggregator handlers on its way up: recorded once
        logging.getLogger("monitoring_layer").warning("library diagnostics are never bridged")
        logging.getLogger("opentelemetry.sdk._shared_internal").warning("Queue full, dropping Log.")
    legacy.info("after stop")
    assert capture.handler not in logging.getLogger().handlers
    messages = [(r["component"], r["message"]) for r in logs.get_logs()]
    assert messages == [("my_component", "mine, once"), ("legacy.etl", "loaded 10 rows")]


def test_capture_logging_level_validation(logs):
    with pytest.raises(ValueError, match="level"):
        logs.capture_logging(level="LOUD")


class _LoggingExporter(LogRecordExporter):
    """An exporter that logs through stdlib logging while it exports (a common plugin bug)."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, batch):  # type: ignore[no-untyped-def]
        self.exported += len(batch)
        logging.getLogger("plugin.exporter").warning("exported %d records", len(batch))
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def test_a_handler_that_logs_while_exporting_neither_recurses_nor_deadlocks(fresh_loggers):
    provider = LoggerProvider()
    exporter = _LoggingExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logs = LogAggregator(provider)
    fresh_loggers.append("app")
    app = logs.create_python_logger("app")
    done = threading.Event()

    def work() -> None:
        with logs.capture_logging(level=logging.WARNING):
            app.warning("first")
            logs.info("api", "second")
        done.set()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    assert done.wait(30), "logging from inside an exporter deadlocked"
    # A line the exporter logs while exporting a bridged record is not bridged
    # again (same thread, inside the bridge); the one it logs while exporting
    # "second" is recorded once, and its own export does not recurse further.
    messages = [r["message"] for r in logs.get_logs()]
    assert messages == ["exported 1 records", "second", "first"]
    assert exporter.exported == 3


def test_format_errors_in_caller_messages_are_contained(logs, fresh_loggers, monkeypatch):
    monkeypatch.setenv("MONITORING_STRICT", "0")
    from monitoring_layer import config

    config._reset_for_tests()
    fresh_loggers.append("sloppy")
    logger = logs.create_python_logger("sloppy")
    logger.propagate = False
    try:
        logger.info("%d rows", "not a number")
    finally:
        logger.propagate = True
    assert _selfmon.counts()["errors"]["logs_bridge"] == 1


def test_a_single_extra_field_is_kept(logs, fresh_loggers):
    fresh_loggers.append("orders")
    logger = logs.create_python_logger("orders")
    logger.info("x", extra={"order_id": "A-1"})
    formatted = logging.LogRecord("orders", logging.INFO, __file__, 1, "y", None, None)
    formatted.order_id = "A-2"
    logging.Formatter("%(asctime)s %(message)s").format(formatted)  # adds message and asctime
    logger.handle(formatted)
    logger.info("no extra")
    plain, second, first = logs.get_component_logs("orders")
    assert first["attributes"]["order_id"] == "A-1"
    assert second["attributes"]["order_id"] == "A-2"
    assert "message" not in second["attributes"] and "asctime" not in second["attributes"]
    assert not {"message", "asctime", "taskName"} & set(plain["attributes"])
