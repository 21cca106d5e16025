"""The log aggregator (SPEC §2): recording, queries, running totals, bounds, bad input."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from monitoring_layer import LogAggregator, _selfmon, config
from monitoring_layer.logging import ERROR_BUCKET, REDACTED


@pytest.fixture
def logs(pipeline):
    return LogAggregator(pipeline.logger_provider, settings=pipeline.settings)


@pytest.fixture
def exported(pipeline):
    """What any other processor on the provider receives."""
    exporter = InMemoryLogRecordExporter()
    pipeline.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    return exporter


def test_spec_calls_work_as_written(logs):
    logs.info("api", "Request received", trace_id="trace_123")
    logs.error("database", "Connection failed", exception="TimeoutError")

    api = logs.get_logs(component="api", level="INFO", limit=100)
    assert [(r["component"], r["level"], r["message"]) for r in api] == [("api", "INFO", "Request received")]
    assert api[0]["attributes"]["trace_id"] == "trace_123"
    database = logs.get_component_logs("database", limit=50)
    assert [r["message"] for r in database] == ["Connection failed"]
    assert [r["message"] for r in logs.search_logs("timeout", component="database")] == ["Connection failed"]
    assert logs.get_error_summary() == {"TimeoutError": 1}
    stats = logs.get_log_statistics()
    assert stats["by_level"]["INFO"] == 1 and stats["by_level"]["ERROR"] == 1
    assert stats["error_rate"] == 0.5


def test_records_are_otel_log_records_for_every_processor(logs, exported):
    for method in ("debug", "info", "warning", "error", "critical"):
        getattr(logs, method)("etl", f"{method} message", rows=3)
    records = [item.log_record for item in exported.get_finished_logs()]
    assert [(r.severity_number.value, r.severity_text) for r in records] == [
        (5, "DEBUG"), (9, "INFO"), (13, "WARN"), (17, "ERROR"), (21, "FATAL")]
    assert all(dict(r.attributes) == {"component": "etl", "rows": 3} for r in records)
    assert exported.get_finished_logs()[0].instrumentation_scope.name == "monitoring_layer.logs"


def test_exception_instance_gives_semantic_convention_attributes(logs, exported):
    try:
        raise ConnectionError("broker down")
    except ConnectionError as exc:
        logs.error("kafka", "publish failed", exception=exc)
    attributes = dict(exported.get_finished_logs()[0].log_record.attributes)
    assert attributes["exception.type"] == "ConnectionError"
    assert attributes["exception.message"] == "broker down"
    assert "raise ConnectionError" in attributes["exception.stacktrace"]
    logs.critical("kafka", "gave up", exception=TimeoutError)
    assert logs.get_error_summary() == {"ConnectionError": 1, "TimeoutError": 1}


def test_current_span_ids_are_attached(logs, pipeline):
    tracer = pipeline.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        logs.info("api", "inside")
    logs.info("api", "outside")
    context = span.get_span_context()
    trace_hex = format(context.trace_id, "032x")
    inside = logs.get_logs(trace_id=trace_hex)
    assert [r["message"] for r in inside] == ["inside"]
    assert inside[0]["span_id"] == format(context.span_id, "016x")
    assert logs.get_logs(trace_id=trace_hex.upper())[0]["message"] == "inside"


def test_newest_first_limit_and_since(logs):
    for i in range(5):
        logs.info("api", f"m{i}")
    assert [r["message"] for r in logs.get_logs(limit=3)] == ["m4", "m3", "m2"]
    assert logs.get_logs(limit=0) == []
    assert len(logs.get_logs(since=timedelta(minutes=5))) == 5
    assert logs.get_logs(since=datetime.now(timezone.utc) + timedelta(minutes=1)) == []
    assert len(logs.get_logs(since=0)) == 5
    with pytest.raises(ValueError, match="limit"):
        logs.get_logs(limit=-1)
    with pytest.raises(TypeError, match="since"):
        logs.get_logs(since="yesterday")


@pytest.mark.parametrize("level, expected", [
    ("DEBUG", 5), ("info", 4), ("Warning", 3), ("WARN", 3), ("error", 2), ("FATAL", 1), ("critical", 1),
    (logging.WARNING, 3), (logging.INFO + 5, 4),
])
def test_level_filter_is_a_minimum(logs, level, expected):
    for method in ("debug", "info", "warning", "error", "critical"):
        getattr(logs, method)("api", method)
    assert len(logs.get_logs(level=level)) == expected
    assert len(logs.search_logs("", level=level)) == expected


def test_unknown_level_raises_value_error(logs):
    with pytest.raises(ValueError, match="level='VERBOSE'"):
        logs.get_logs(level="VERBOSE")
    with pytest.raises(ValueError, match="not a log level"):
        logs.log("VERBOSE", "api", "message")
    logs.log("warning", "api", "by name")
    logs.log(logging.ERROR, "api", "by number")
    assert [r["level"] for r in logs.get_logs()] == ["ERROR", "WARNING"]


def test_search_words_phrases_and_attributes(logs):
    logs.error("database", "Connection failed after 30s", exception="TimeoutError", host="db-1")
    logs.info("database", "connection pool resized")
    logs.info("api", "failed connection to cache")
    assert [r["message"] for r in logs.search_logs("CONNECTION failed")] == [
        "failed connection to cache", "Connection failed after 30s"]
    assert [r["message"] for r in logs.search_logs('"connection failed"')] == ["Connection failed after 30s"]
    assert [r["message"] for r in logs.search_logs("db-1 timeout")] == ["Connection failed after 30s"]
    assert logs.search_logs("connection", component="api", limit=1)[0]["component"] == "api"
    assert logs.search_logs("pool", level="WARNING") == []


def test_running_totals_outlive_the_memory_bound(pipeline):
    logs = LogAggregator(pipeline.logger_provider, settings=pipeline.settings, max_records=5)
    for i in range(12):
        logs.error("db", f"failure {i}", exception="TimeoutError" if i % 2 else None)
    logs.info("api", "ok")
    assert [r["message"] for r in logs.get_logs()] == ["ok", "failure 11", "failure 10", "failure 9", "failure 8"]
    assert [r["message"] for r in logs.get_component_logs("db", limit=50)] == [
        "failure 11", "failure 10", "failure 9", "failure 8"]
    assert logs.get_error_summary() == {ERROR_BUCKET: 6, "TimeoutError": 6}
    stats = logs.get_log_statistics()
    assert stats["total"] == 13 and stats["errors"] == 12
    assert stats["by_component"] == {"db": 12, "api": 1}
    assert stats["in_memory"] == 5 and stats["evicted_from_memory"] == 8
    assert stats["dropped"]["memory_evicted"] == 8
    assert _selfmon.counts()["dropped"][("logs", "memory_evicted")] == 8


def test_memory_bound_comes_from_the_setting(pipeline):
    settings = config.resolve_settings({}, {"logs_memory_max_records": 3})
    logs = LogAggregator(pipeline.logger_provider, settings=settings)
    for i in range(4):
        logs.info("api", str(i))
    assert len(logs.get_logs()) == 3
    with pytest.raises(ValueError, match="max_records"):
        LogAggregator(pipeline.logger_provider, max_records=0)
    with pytest.raises(ValueError, match="max_message_length"):
        LogAggregator(pipeline.logger_provider, max_message_length=10)
    with pytest.raises(TypeError, match="logger_provider"):
        LogAggregator(None)

def test_kept_records_leave_the_collector_at_its_first_pass(logs):
    """A full store must cost full collections nothing: its entries hold no container of their own."""
    import gc

    def record() -> None:
        logs.info("api", "plain")
        logs.warning("db", "with attributes", table="orders", rows=3, ratio=0.5)
        logs.error("db", "an error", exception=ValueError("x"))

    record()  # the first record of a set of attribute names makes the shared tuple of the names,
    gc.collect()  # which stops being tracked at its first collection
    gc.disable()  # every new entry stays in the youngest generation until the collection below
    try:
        record()
        gc.collect(0)
    finally:
        gc.enable()
    entries = logs._store.snapshot()[3:]
    assert [gc.is_tracked(entry) for entry in entries] == [False, False, False]
    assert logs.get_logs(limit=1)[0]["attributes"]["exception.type"] == "ValueError"
    warning = logs.get_logs(level="WARNING", limit=2)[-1]
    assert {k: warning["attributes"][k] for k in ("table", "rows", "ratio")} == {
        "table": "orders", "rows": 3, "ratio": 0.5}


def test_statistics(logs):
    for _ in range(6):
        logs.info("api", "ok")
    logs.warning("api", "slow")
    logs.error("db", "down")
    logs.critical("db", "gone")
    stats = logs.get_log_statistics()
    assert stats["total"] == 9
    assert stats["by_level"] == {"DEBUG": 0, "INFO": 6, "WARNING": 1, "ERROR": 1, "CRITICAL": 1}
    assert stats["by_component"] == {"api": 7, "db": 2}
    assert stats["error_rate"] == pytest.approx(2 / 9)
    assert stats["logs_per_hour"]["last_hour"] == 9
    assert stats["logs_per_hour"]["since_start"] >= 9


def test_secrets_are_redacted_in_attributes_and_messages(logs, exported):
    logs.warning(
        "auth", 'login failed password=hunter2 api-key: abc123 {"token": "t0k"} Authorization: Bearer xyz',
        db_password="s3cret", Session_ID="abc", headers={"Cookie": "c=1", "accept": "json"}, user="ann",
    )
    record = logs.get_logs()[0]
    for secret in ("hunter2", "abc123", "t0k", "xyz", "s3cret"):
        assert secret not in str(record)
        assert secret not in str(exported.get_finished_logs()[0].log_record.body)
    assert record["message"] == (
        'login failed password=[REDACTED] api-key: [REDACTED] {"token": "[REDACTED]"} '
        "Authorization: [REDACTED]")
    assert record["attributes"]["db_password"] == REDACTED
    assert record["attributes"]["Session_ID"] == REDACTED
    assert record["attributes"]["headers"] == {"Cookie": REDACTED, "accept": "json"}
    assert record["attributes"]["user"] == "ann"
    assert logs.search_logs("hunter2") == []


def test_a_harmless_pair_does_not_hide_a_secret_in_its_value(logs):
    logs.info("http", "GET url=https://host/p?token=abc&page=2 took 3ms", link="see https://h/?api_key=k1")
    record = logs.get_logs()[0]
    assert record["message"] == "GET url=https://host/p?token=[REDACTED]&page=2 took 3ms"
    assert record["attributes"]["link"] == "see https://h/?api_key=[REDACTED]"


def test_redact_keys_are_extendable(pipeline):
    settings = config.resolve_settings({"MONITORING_LOGS_REDACT_KEYS": "ssn, iban"}, {})
    logs = LogAggregator(pipeline.logger_provider, settings=settings, redact_keys=["pin"])
    logs.info("billing", "paid iban=DE001 pin: 1234", customer_ssn="123-45", amount=3)
    record = logs.get_logs()[0]
    assert record["message"] == "paid iban=[REDACTED] pin: [REDACTED]"
    assert record["attributes"] == {"component": "billing", "customer_ssn": REDACTED, "amount": 3}


def test_bad_input_is_contained(logs):
    class Odd:
        def __repr__(self) -> str:
            return "<Odd>"

    logs.info("api", 12345)
    logs.info("api", "x" * 40_000)
    logs.info("api", "values", obj=Odd(), items=[1, "a", Odd()], big=2**70, none=None)
    odd, long, number = logs.get_logs()
    assert number["message"] == "12345"
    assert len(long["message"]) < 33_000 and long["message"].endswith("...[truncated 7232 chars]")
    assert odd["attributes"]["obj"] == "<Odd>"
    assert odd["attributes"]["items"] == [1, "a", "<Odd>"]
    assert odd["attributes"]["big"] == str(2**70)
    assert odd["attributes"]["none"] == "None"


def test_record_time_faults_are_contained_when_not_strict(monkeypatch, pipeline):
    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()
    logs = LogAggregator(pipeline.logger_provider, settings=pipeline.settings)

    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no str")

    logs._store._add = None  # a store that fails on every record  # type: ignore[assignment]
    logs.info("api", Broken())  # neither raises nor loses the caller
    assert _selfmon.counts()["errors"].get("logs_store") == 1


def test_other_otel_loggers_on_the_provider_are_kept_and_scrubbed(pipeline):
    from opentelemetry._logs import LogRecord, SeverityNumber

    exporter = InMemoryLogRecordExporter()  # a processor added before the aggregator
    pipeline.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logs = LogAggregator(pipeline.logger_provider, settings=pipeline.settings)
    other = pipeline.logger_provider.get_logger("some.instrumentation")
    other.emit(LogRecord(severity_number=SeverityNumber.ERROR, body="token=abc", attributes={"secret": "x"}))
    record = logs.get_component_logs("some.instrumentation")[0]
    assert record["message"] == "token=[REDACTED]"
    assert record["attributes"] == {"secret": REDACTED}
    assert logs.get_error_summary() == {ERROR_BUCKET: 1}
    seen = exporter.get_finished_logs()[0].log_record
    assert (seen.body, dict(seen.attributes)) == ("token=[REDACTED]", {"secret": REDACTED})


def test_threads_all_counted():
    logs = LogAggregator(LoggerProvider(), max_records=1000)
    threads, per_thread = 8, 20_000
    barrier = threading.Barrier(threads)

    def work(n: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            if i % 100:
                logs.info(f"worker-{n}", "tick")
            else:
                logs.error(f"worker-{n}", "boom", exception="ValueError")

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stats = logs.get_log_statistics()
    assert stats["total"] == threads * per_thread
    assert stats["by_component"] == {f"worker-{n}": per_thread for n in range(threads)}
    assert stats["by_level"]["ERROR"] == threads * per_thread // 100
    assert logs.get_error_summary() == {"ValueError": threads * per_thread // 100}
    assert stats["in_memory"] == 1000
    assert stats["evicted_from_memory"] == threads * per_thread - 1000


def test_disabled_sdk_answers_empty():
    from opentelemetry._logs import NoOpLoggerProvider

    logs = LogAggregator(NoOpLoggerProvider())
    logs.error("api", "nothing", exception="X")
    assert logs.get_logs() == [] and logs.get_error_summary() == {}
    assert logs.get_log_statistics()["total"] == 0


def test_public_names():
    import monitoring_layer

    assert monitoring_layer.get_log_aggregator is monitoring_layer.logging.get_log_aggregator
    assert {"LogAggregator", "get_log_aggregator"} <= set(monitoring_layer.__all__)


def test_exc_info_keyword_takes_the_current_exception(logs):
    try:
        {}["missing"]
    except KeyError:
        logs.error("etl", "lookup failed", exc_info=True)
    attributes = logs.get_logs()[0]["attributes"]
    assert attributes["exception.type"] == "KeyError"
    assert "exc_info" not in attributes


def test_get_log_aggregator_is_one_instance_on_the_pipeline(process_wide):
    from monitoring_layer import get_log_aggregator

    pipeline = process_wide
    barrier = threading.Barrier(4)
    found = []

    def get() -> None:
        barrier.wait()
        found.append(get_log_aggregator())

    workers = [threading.Thread(target=get) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len({id(a) for a in found}) == 1
    found[0].info("api", "through the pipeline")
    assert pipeline.flush()
    assert "through the pipeline" in (pipeline.settings.home / "logs" / "logs.json").read_text("utf-8")


def test_keys_are_matched_as_whole_words_and_shaped_secrets_redacted():
    from monitoring_layer._scrub import Scrubber

    scrubber = Scrubber()
    for key in ("db_password", "db.password", "X-Api-Key", "clientSecret", "session_id", "access_token",
                "user_session", "Authorization", "http.request.header.cookie"):
        assert scrubber.sensitive(key), key
    for key in ("tokenizer", "session_count", "token_count", "secretary", "cookiecutter"):
        assert not scrubber.sensitive(key), key
    assert scrubber.text("tokenizer=bert session_count=5 password=x") == \
        "tokenizer=bert session_count=5 password=[REDACTED]"
    assert scrubber.text("login with AKIAIOSFODNN7EXAMPLE failed") == "login with [REDACTED] failed"


def test_a_bare_access_key_id_in_a_message_is_redacted(process_wide):
    from monitoring_layer import get_log_aggregator

    logs = get_log_aggregator()
    logs.warning("deploy", "using AKIAIOSFODNN7EXAMPLE for the upload")
    assert logs.get_logs(component="deploy")[0]["message"] == "using [REDACTED] for the upload"
