"""The JSON-file exporters through a real pipeline: content, schemas, retention, quarantine, permissions."""

import json
import os
import stat
import time

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry._logs import LogRecord, SeverityNumber

from monitoring_layer import ConfigError, JsonFileLogExporter, JsonFileSpanExporter, _selfmon
from monitoring_layer._encode import duration_ms
from monitoring_layer.exporters import FILES, JsonFileStore, load_schema, prepare_home, validate
from monitoring_layer.pipeline import Pipeline
from monitoring_layer.config import resolve_settings


def _record_everything(pipeline):
    tracer = pipeline.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("load_batch") as root:
        root.set_attribute("rows", 120)
        with tracer.start_as_current_span("write_parquet") as child:
            child.add_event("flushed", {"bytes": 4096})
    meter = pipeline.meter_provider.get_meter("test")
    meter.create_counter("rows_loaded").add(120, {"table": "orders"})
    meter.create_histogram("batch_seconds", unit="s").record(0.25)
    logger = pipeline.logger_provider.get_logger("test")
    logger.emit(LogRecord(body="batch loaded", severity_number=SeverityNumber.INFO, attributes={"component": "etl"}))
    logger.emit(LogRecord(body="disk slow", severity_number=SeverityNumber.WARN, attributes={"component": "etl"}))
    return root


def _read(home, relative):
    return json.loads((home / relative).read_text())


def test_pipeline_writes_the_three_documented_files(pipeline, home):
    root = _record_everything(pipeline)
    assert pipeline.flush()

    traces = _read(home, "traces/traces.json")
    assert traces["schema_version"] == 2 and traces["kind"] == "traces"
    (trace,) = traces["traces"]
    assert trace["trace_id"] == format(root.get_span_context().trace_id, "032x")
    assert trace["name"] == "load_batch" and trace["span_count"] == 2 and trace["complete"]
    child = next(s for s in trace["spans"] if s["name"] == "write_parquet")
    assert child["parent_span_id"] == trace["root_span_id"]
    assert child["events"][0]["name"] == "flushed" and child["events"][0]["attributes"] == {"bytes": 4096}
    assert trace["start"].endswith("Z") and trace["duration_ms"] >= child["duration_ms"] >= 0

    logs = _read(home, "logs/logs.json")
    assert [r["message"] for r in logs["records"]] == ["disk slow", "batch loaded"]  # newest first
    assert logs["records"][0]["level"] == "WARNING" and logs["records"][0]["component"] == "etl"

    metrics = _read(home, "metrics/metrics_registry.json")["metrics"]
    rows = metrics["rows_loaded"]
    assert rows["type"] == "counter"
    assert rows["series"][0]["labels"] == {"table": "orders"}
    assert rows["series"][0]["points"][-1]["value"] == 120
    hist = metrics["batch_seconds"]["series"][0]["points"][-1]
    assert hist["count"] == 1 and hist["sum"] == 0.25 and sum(hist["bucket_counts"]) == 1


# The files the pipeline's exporters write (FILES also lists the engines' files, tested with them).
EXPORTER_FILES = {relative: name for relative, name in FILES.items()
                  if relative.split("/")[0] in ("metrics", "logs", "traces")}


def test_files_match_their_schemas(pipeline, home):
    _record_everything(pipeline)
    pipeline.flush()
    assert len(EXPORTER_FILES) == 3
    for relative, name in EXPORTER_FILES.items():
        doc = _read(home, relative)
        schema = load_schema(name)
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.validate(doc, schema)  # the standard validator agrees...
        assert validate(doc, schema) == []  # ...with the one `monitoring-layer check` uses


def test_own_validator_reports_problems():
    schema = load_schema("logs")
    bad = {"schema_version": 1, "kind": "logs", "records": [{"time": 5}]}
    problems = validate(bad, schema)
    assert any("missing required 'message'" in p for p in problems)
    assert any("$.records[0].time: expected string" in p for p in problems)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_idle_counter_adds_no_points(pipeline, home):
    pipeline.meter_provider.get_meter("t").create_counter("jobs").add(1)
    pipeline.flush()
    pipeline.flush()
    points = _read(home, "metrics/metrics_registry.json")["metrics"]["jobs"]["series"][0]["points"]
    assert len(points) == 1


def test_folders_0700_files_0600(pipeline, home):
    _record_everything(pipeline)
    pipeline.flush()
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    for relative in EXPORTER_FILES:
        assert stat.S_IMODE(os.stat((home / relative).parent).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(home / relative).st_mode) == 0o600


def test_foreign_owned_home_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to give a folder to another user")
    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o700)
    os.chown(foreign, 65534, 65534)
    with pytest.raises(ConfigError, match="owned by uid 65534.*MONITORING_HOME"):
        prepare_home(foreign)
    with pytest.raises(ConfigError, match="owned by uid 65534"):
        Pipeline(resolve_settings(overrides={"home": foreign}))


def test_world_writable_home_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(ConfigError, match="writable by group or others.*chmod 700"):
        prepare_home(shared)


def test_symlink_owned_by_someone_else_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to give a symlink to another user")
    target = tmp_path / "real"
    target.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(target)
    prepare_home(link)  # my own symlink to my own folder is fine
    os.lchown(link, 65534, 65534)
    with pytest.raises(ConfigError, match="symlink owned by uid 65534"):
        prepare_home(link)


def test_a_home_path_through_a_file_or_a_file_in_the_home_is_a_config_error(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(ConfigError, match="afile/sub.*cannot be used: Not a directory"):
        prepare_home(afile / "sub")
    home = tmp_path / "home"
    prepare_home(home)
    (home / "logs").write_text("")  # a file where a signal's folder goes
    with pytest.raises(ConfigError, match="logs.*cannot be created"):
        prepare_home(home, "logs")


def test_retention_by_count_keeps_newest(home):
    exporter = JsonFileLogExporter(home, max_records=3, export_interval_s=3600)
    provider = _log_provider(exporter)
    logger = provider.get_logger("t")
    for i in range(5):
        logger.emit(LogRecord(body=f"m{i}", timestamp=1_000 + i, severity_number=SeverityNumber.INFO))
    provider.force_flush()
    exporter.write_now()
    # timestamps far in the past would be dropped by age: use recent ones
    doc = _read(home, "logs/logs.json")
    assert doc["records"] == []  # all five are older than 30 days
    assert _selfmon.counts()["dropped"][("logs", "retention_age")] == 3
    assert _selfmon.counts()["dropped"][("logs", "retention_count")] == 2

    now = time.time_ns()
    for i in range(5):
        logger.emit(LogRecord(body=f"n{i}", timestamp=now + i, severity_number=SeverityNumber.INFO))
    provider.force_flush()
    exporter.write_now()
    assert [r["message"] for r in _read(home, "logs/logs.json")["records"]] == ["n4", "n3", "n2"]
    provider.shutdown()


def test_retention_by_age_drops_old_traces(home):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    exporter = JsonFileSpanExporter(home, retention_days=1, export_interval_s=3600)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    two_days_ago = time.time_ns() - 2 * 86_400 * 10**9
    tracer.start_span("ancient", start_time=two_days_ago).end(end_time=two_days_ago + 1000)
    tracer.start_span("fresh").end()
    exporter.write_now()
    names = [t["name"] for t in _read(home, "traces/traces.json")["traces"]]
    assert names == ["fresh"]
    assert _selfmon.counts()["dropped"][("traces", "retention_age")] == 1
    provider.shutdown()


def test_max_spans_per_trace_is_bounded_and_counted(home):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    exporter = JsonFileSpanExporter(home, max_spans_per_trace=3, export_interval_s=3600)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root"):
        for i in range(5):
            tracer.start_span(f"child{i}").end()
    exporter.write_now()
    (trace,) = _read(home, "traces/traces.json")["traces"]
    assert trace["span_count"] == 3 and trace["dropped_spans"] == 3
    provider.shutdown()


def test_corrupt_file_is_quarantined_and_restarted(home, caplog):
    prepare_home(home, "logs")
    path = home / "logs" / "logs.json"
    path.write_text('{"schema_version": 1, "kind": "logs", "records": [')
    exporter = JsonFileLogExporter(home, export_interval_s=3600)
    provider = _log_provider(exporter)
    provider.get_logger("t").emit(LogRecord(body="after", severity_number=SeverityNumber.ERROR))
    provider.force_flush()
    with caplog.at_level("WARNING", logger="monitoring_layer"):
        assert exporter.write_now()
    assert [r["message"] for r in _read(home, "logs/logs.json")["records"]] == ["after"]
    (aside,) = list(path.parent.glob("logs.json.corrupt-*"))
    assert aside.read_text().endswith("[")
    assert "moved it to logs.json.corrupt-" in caplog.text
    assert _selfmon.counts()["errors"]["corrupt_file"] == 1
    provider.shutdown()


def test_failed_write_is_contained_counted_and_retried(home, monkeypatch):
    from monitoring_layer import config

    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()
    exporter = JsonFileLogExporter(home, export_interval_s=3600)
    provider = _log_provider(exporter)
    provider.get_logger("t").emit(LogRecord(body="kept", severity_number=SeverityNumber.INFO))
    provider.force_flush()
    real_write = JsonFileStore._write

    def disk_full(self, doc):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(JsonFileStore, "_write", disk_full)
    assert exporter.write_now() is False
    assert _selfmon.counts()["errors"]["export"] == 1
    monkeypatch.setattr(JsonFileStore, "_write", real_write)
    assert exporter.write_now() is False  # backing off: not retried at once
    exporter._retry_at = 0.0              # the back-off has passed
    assert exporter.write_now() is True  # the buffer was kept for the next try
    assert [r["message"] for r in _read(home, "logs/logs.json")["records"]] == ["kept"]
    provider.shutdown()


def test_flush_and_shutdown_are_safe_twice(home):
    p = Pipeline(resolve_settings(overrides={"export_interval_s": 3600}))
    p.tracer_provider.get_tracer("t").start_span("once").end()
    assert p.flush() and p.flush()
    p.shutdown()
    p.shutdown()
    assert p.flush()  # after shutdown: nothing to do, still no error
    assert _read(home, "traces/traces.json")["traces"][0]["name"] == "once"


def test_sdk_disabled_records_and_writes_nothing(home):
    p = Pipeline(resolve_settings(overrides={"sdk_disabled": True}))
    p.tracer_provider.get_tracer("t").start_span("nothing").end()
    p.meter_provider.get_meter("t").create_counter("c").add(1)
    assert p.flush()
    p.shutdown()
    assert not home.exists()


def _log_provider(exporter):
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    return provider


def test_a_write_by_someone_else_is_read_not_overwritten_from_cache(home):
    exporter = JsonFileLogExporter(home, export_interval_s=3600)
    provider = _log_provider(exporter)
    logger = provider.get_logger("t")
    logger.emit(LogRecord(body="mine-1", severity_number=SeverityNumber.INFO))
    provider.force_flush()
    exporter.write_now()
    path = home / "logs" / "logs.json"
    doc = json.loads(path.read_text())
    theirs = dict(doc["records"][0], message="theirs", time_unix_nano=doc["records"][0]["time_unix_nano"] + 1)
    doc["records"].insert(0, theirs)
    JsonFileStore(path, "logs").update(lambda _: doc)  # another writer, as another process would
    logger.emit(LogRecord(body="mine-2", severity_number=SeverityNumber.INFO))
    provider.force_flush()
    exporter.write_now()
    assert [r["message"] for r in _read(home, "logs/logs.json")["records"]] == ["mine-2", "theirs", "mine-1"]
    provider.shutdown()


def test_a_missing_subfolder_of_a_group_writable_volume_root_is_the_way(tmp_path):
    volume = tmp_path / "volume"  # as Kubernetes mounts an emptyDir with fsGroup: group-writable, setgid
    volume.mkdir()
    os.chmod(volume, 0o2775)
    with pytest.raises(ConfigError, match=f"Use a subfolder: MONITORING_HOME={volume / 'monitoring'}"):
        prepare_home(volume)
    home = prepare_home(volume / "monitoring" / "app", "logs")
    assert stat.S_IMODE(os.stat(home).st_mode) & 0o077 == 0
    assert stat.S_IMODE(os.stat(home / "logs").st_mode) & 0o077 == 0


def test_a_failed_span_write_keeps_every_span_count_of_a_trace_that_grew_meanwhile(tmp_path, monkeypatch) -> None:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    from monitoring_layer import config
    from monitoring_layer.exporters import JsonFileSpanExporter

    ended = []

    class Keep(SpanProcessor):
        def on_end(self, span) -> None:
            ended.append(span)

    provider = TracerProvider()
    provider.add_span_processor(Keep())
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root"):
        for _ in range(5):
            tracer.start_span("child").end()
    provider.shutdown()
    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()
    exporter = JsonFileSpanExporter(tmp_path / "home", max_spans_per_trace=2, export_interval_s=3600)
    exporter.export(ended[:1])
    real_update = exporter._store.update

    def failing(*args, **kwargs):  # the rest of the trace arrives while the write fails (3 over the cap)
        exporter.export(ended[1:])
        raise OSError("disk full")

    monkeypatch.setattr(exporter._store, "update", failing)
    assert exporter.write_now() is False  # the buffer is kept
    monkeypatch.setattr(exporter._store, "update", real_update)
    exporter._failures = 0  # the back-off is another test's subject
    assert exporter.write_now() is True
    (trace,) = exporter._store.read()["traces"]
    assert (trace["span_count"], trace["dropped_spans"]) == (2, 4)  # 6 spans: 2 kept, 4 counted
    exporter.shutdown()


def test_a_trace_written_before_its_root_ended_is_incomplete_then_whole(pipeline, home):
    tracer = pipeline.tracer_provider.get_tracer("test")
    root = tracer.start_span("load_batch")
    with tracer.start_as_current_span("write_parquet", context=_in(root)) as child:
        pass
    assert pipeline.flush()
    (early,) = _read(home, "traces/traces.json")["traces"]
    child_id = format(child.get_span_context().span_id, "016x")
    assert (early["complete"], early["root_span_id"], early["name"], early["span_count"]) == (
        False, child_id, "write_parquet", 1)  # the parent is not in the file yet: the child stands in for it
    assert (early["start"], early["end"], early["duration_ms"]) == (
        early["spans"][0]["start"], early["spans"][0]["end"], early["spans"][0]["duration_ms"])

    root.end()
    assert pipeline.flush()
    (whole,) = _read(home, "traces/traces.json")["traces"]
    root_id = format(root.get_span_context().span_id, "016x")
    assert (whole["complete"], whole["root_span_id"], whole["name"], whole["span_count"]) == (
        True, root_id, "load_batch", 2)
    assert [s["span_id"] for s in whole["spans"]] == [root_id, child_id]  # by start time
    assert whole["start_unix_nano"] == root.start_time and whole["end_unix_nano"] == root.end_time
    assert whole["duration_ms"] == round((root.end_time - root.start_time) / 1e6, 6)


def test_a_span_without_a_service_of_its_own_is_its_trace_s_in_the_file(pipeline, home):
    # What the queries and the dashboard say too: start_trace("api")'s children are the api's.
    tracer = pipeline.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("handle", attributes={"monitoring.service": "api"}):
        with tracer.start_as_current_span("authenticate"):
            pass
    with tracer.start_as_current_span("orphan_batch"):  # no service anywhere: OTel's default stays
        with tracer.start_as_current_span("step"):
            pass
    assert pipeline.flush()
    by_name = {t["name"]: t for t in _read(home, "traces/traces.json")["traces"]}
    assert [(s["name"], s["service"]) for s in by_name["handle"]["spans"]] == [("handle", "api"), ("authenticate", "api")]
    assert by_name["handle"]["service"] == "api"
    assert {s["service"] for s in by_name["orphan_batch"]["spans"]} == {"unknown_service:python"}


def _in(span):
    from opentelemetry.trace import set_span_in_context

    return set_span_in_context(span)


def test_a_batch_of_interleaved_traces_is_bounded_per_trace_and_waits_untracked_by_the_gc(home):
    import gc

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import set_span_in_context

    exporter = JsonFileSpanExporter(home, max_traces=2, max_spans_per_trace=3, export_interval_s=3600)
    collected = []

    class Batch(SimpleSpanProcessor):  # hands the spans over in one export() call, as a batch processor does
        def on_end(self, span):
            collected.append(span)

    provider = TracerProvider()
    provider.add_span_processor(Batch(exporter))
    tracer = provider.get_tracer("t")
    roots = [tracer.start_span(f"root{i}") for i in range(3)]
    for step in range(4):  # children of the three traces, interleaved
        for i, root in enumerate(roots):
            tracer.start_span(f"child{i}.{step}", context=set_span_in_context(root)).end()
    for root in roots:
        root.end()
    exporter.export(collected)

    gc.collect()
    assert len(exporter._pending) == 2 and not any(gc.is_tracked(e) for e in exporter._pending.values())
    assert _selfmon.counts()["dropped"][("traces", "retention_count")] == 1  # max_traces=2: root0's trace
    assert _selfmon.counts()["dropped"][("spans", "max_spans_per_trace")] == 6  # 5 spans each, 3 kept
    assert _selfmon.counts()["dropped"][("spans", "retention_count")] == 3    # the kept ones of root0
    exporter.write_now()
    written = {t["name"]: t for t in _read(home, "traces/traces.json")["traces"]}
    assert sorted(written) == ["child1.0", "child2.0"]  # the root is over the cap: the first child stands in
    assert [s["name"] for s in written["child1.0"]["spans"]] == ["child1.0", "child1.1", "child1.2"]
    assert all(t["span_count"] == 3 and t["dropped_spans"] == 2 for t in written.values())
    # What the next write reuses (the kept traces' text) costs the garbage collector nothing once seen by
    # it: new traces' tuples are untracked by the first full collection, the tuple holding them by the next.
    gc.collect()
    gc.collect()
    kept = exporter._store._cache[1]["traces"]
    assert len(kept) == 2 and not gc.is_tracked(kept)
    provider.shutdown()


def test_a_written_trace_kept_as_a_place_gains_the_spans_of_a_later_write(home):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import set_span_in_context

    from monitoring_layer.exporters import _store

    exporter = JsonFileSpanExporter(home, export_interval_s=3600)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    root = tracer.start_span("root", attributes={"big": "x" * _store.PLACE_MIN_BYTES})
    tracer.start_span("first", context=set_span_in_context(root)).end()
    root.end()
    tracer.start_span("other").end()
    assert exporter.write_now()
    kept = {t[1]: t for t in exporter._store._cache[1]["traces"]}
    trace_id = format(root.get_span_context().trace_id, "032x")
    assert type(kept[trace_id][0]) is range  # large: the next write copies it or reads it back from the file

    # A span of the same trace from later (another thread, a retry) reaches the next write.
    tracer.start_span("late", context=set_span_in_context(root)).end()
    assert exporter.write_now()
    traces = {t["trace_id"]: t for t in _read(home, "traces/traces.json")["traces"]}
    assert sorted(s["name"] for s in traces[trace_id]["spans"]) == ["first", "late", "root"]
    assert traces[trace_id]["span_count"] == 3 and traces[trace_id]["spans"][0]["attributes"]["big"].startswith("x")
    assert [t["name"] for t in traces.values()].count("other") == 1
    provider.shutdown()


def test_a_hand_edited_metrics_file_is_set_aside_and_the_next_write_succeeds(pipeline, home):
    # A series whose points are not objects: the merge cannot read it, and every write would fail.
    counter = pipeline.meter_provider.get_meter("test").create_counter("rows_loaded")
    counter.add(1, {"table": "orders"})
    assert pipeline.flush()
    path = home / "metrics" / "metrics_registry.json"
    doc = json.loads(path.read_text())
    doc["metrics"]["edited"] = {"type": "counter", "series": [{"labels": {}, "source": "x", "points": [5, "bad"]}]}
    path.write_text(json.dumps(doc))
    counter.add(2, {"table": "orders"})
    assert pipeline.flush()
    metrics = _read(home, "metrics/metrics_registry.json")["metrics"]
    assert "edited" not in metrics and metrics["rows_loaded"]["series"][0]["points"][-1]["value"] == 3
    (aside,) = path.parent.glob("metrics_registry.json.corrupt-*")
    assert "edited" in json.loads(aside.read_text())["metrics"]
    counter.add(1, {"table": "orders"})
    assert pipeline.flush()  # and every write after it


def test_a_malformed_span_in_the_file_is_left_out_and_counted_not_a_failed_write_ever_after(home):
    # Another process, an older writer or a hand wrote the file: a later span of that trace merges with
    # what is whole in it, and the write succeeds (a failed merge would fail every later write too).
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

    exporter = JsonFileSpanExporter(home, export_interval_s=3600)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    tracer.start_span("seed").end()
    assert exporter.write_now()
    doc = _read(home, "traces/traces.json")
    trace_id = "ab" * 16
    whole = {"span_id": "00000000000000bb", "parent_span_id": None, "name": "root", "service": "api",
             "start": "2026-11-30T00:00:00.000000Z", "start_unix_nano": 0, "end": "2026-11-30T00:00:00.000001Z",
             "end_unix_nano": 1000, "status": "SUCCESS"}
    doc["traces"].append({"trace_id": trace_id, "end_unix_nano": 1000, "dropped_spans": "two", "spans": [
        whole, {"span_id": "00000000000000aa", "name": "no service, no times"}, "not a span"]})
    (home / "traces" / "traces.json").write_text(json.dumps(doc))
    errors = _selfmon.counts()["errors"].get("export", 0)

    parent = SpanContext(int(trace_id, 16), 0xbb, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    tracer.start_span("late", context=set_span_in_context(NonRecordingSpan(parent))).end()
    assert exporter.write_now()
    assert _selfmon.counts()["errors"].get("export", 0) == errors
    merged = {t["trace_id"]: t for t in _read(home, "traces/traces.json")["traces"]}[trace_id]
    assert [(s["name"], s["service"]) for s in merged["spans"]] == [("root", "api"), ("late", "api")]
    assert (merged["span_count"], merged["dropped_spans"], merged["complete"]) == (2, 2, True)
    provider.shutdown()


@given(st.integers(min_value=0, max_value=2**63), st.integers(min_value=-(2**60), max_value=2**60))
def test_a_duration_is_its_nanoseconds_in_ms_rounded_to_six_places(start: int, elapsed: int) -> None:
    # The files' duration_ms skips round() where the division alone is already exact to the nanosecond.
    assert duration_ms(start, start + elapsed) == round(elapsed / 1e6, 6)


_SECOND = 1_000_000_000


@given(st.integers(min_value=0, max_value=2**62), st.integers(min_value=0, max_value=3 * _SECOND),
       st.integers(min_value=-2 * _SECOND, max_value=2 * _SECOND))
def test_a_span_s_timestamp_texts_are_iso_s_whatever_second_was_formatted_last(start, elapsed, primed_offset):
    # The writer formats a span's two timestamps from iso()'s cached second when both fall in it.
    from datetime import datetime, timezone

    from monitoring_layer._encode import iso
    from monitoring_layer._spanrec import F_END, F_START
    from monitoring_layer.exporters.traces import _span_record

    iso(max(0, start + primed_offset))  # whatever second another writer formatted just before
    record = [None] * 15
    record[F_START], record[F_END] = start, start + elapsed
    record[4], record[5], record[8], record[12], record[11] = "op", "INTERNAL", "UNSET", (), ()
    span = _span_record(tuple(record), "00000000000000ab")

    def expected(ns):
        moment = datetime.fromtimestamp(ns // 1000 // 1_000_000, tz=timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ns // 1000 % 1_000_000:06d}Z"

    assert (span["start"], span["end"]) == (expected(start), expected(start + elapsed))


_SPAN_IDS = st.sampled_from(["%016x" % n for n in range(1, 7)])


@given(st.lists(st.tuples(_SPAN_IDS, st.one_of(st.none(), _SPAN_IDS, st.just("00000000000000ff")),
                          st.integers(0, 5), st.integers(0, 5),
                          st.sampled_from(["SUCCESS", "ERROR", "TIMEOUT", "CANCELLED"]), st.booleans()),
                min_size=1, max_size=8, unique_by=lambda s: s[0]))
def test_a_trace_s_summary_follows_its_spans(spans):
    # _trace_record finds root, completeness, status and end in one pass; this is the definition it keeps.
    from monitoring_layer.exporters.traces import _trace_record

    by_id = {}
    for span_id, parent, start, length, status, named in spans:
        by_id[span_id] = {"span_id": span_id, "parent_span_id": parent, "name": f"n{span_id[-1]}",
                          "service": f"s{span_id[-1]}" if named else "unknown_service:python",
                          "start": f"t{start}", "start_unix_nano": start,
                          "end": f"t{start + length}@{span_id}", "end_unix_nano": start + length,
                          "duration_ms": length / 1e6, "status": status}
    ordered = [dict(s) for s in sorted(by_id.values(), key=lambda s: s["start_unix_nano"])]
    trace = _trace_record("ab" * 16, by_id, 0)

    root = next((s for s in ordered if not s["parent_span_id"] or s["parent_span_id"] not in by_id), ordered[0])
    last = max(ordered, key=lambda s: s["end_unix_nano"])
    if not root["service"].startswith("unknown_service"):  # a span without a service of its own is its trace's
        for span in ordered:
            if span["service"].startswith("unknown_service"):
                span["service"] = root["service"]
    assert trace["spans"] == ordered
    assert (trace["root_span_id"], trace["name"], trace["service"]) == (root["span_id"], root["name"], root["service"])
    assert trace["complete"] == any(not s["parent_span_id"] for s in ordered)
    assert trace["status"] == ("ERROR" if {s["status"] for s in ordered} & {"ERROR", "TIMEOUT"} else "SUCCESS")
    assert (trace["start_unix_nano"], trace["end_unix_nano"], trace["end"]) == (
        ordered[0]["start_unix_nano"], last["end_unix_nano"], last["end"])
    assert trace["duration_ms"] == duration_ms(ordered[0]["start_unix_nano"], last["end_unix_nano"])
