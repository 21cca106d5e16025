"""One status vocabulary for spans and traces: the file, the queries, the dashboard and the CLI agree.

The mapping lives in ``monitoring_layer._status``; these tests drive one trace with
every kind of span end (facade SUCCESS, ERROR, CANCELLED, TIMEOUT and raw OTel spans
with ``StatusCode.OK``/``UNSET``/``ERROR``) through the real pipeline, and read its
statuses back from ``traces.json``, ``get_trace()``, the dashboard's HTTP API (live
and over the home) and ``monitoring-layer traces``. A schema 1 file (OTel's codes in
``status``) is migrated wherever it is read.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Status, StatusCode

from monitoring_layer import _status
from monitoring_layer._http import Router, start_server
from monitoring_layer.cli import main
from monitoring_layer.dashboard import ObservabilityDashboard, mount_dashboard
from monitoring_layer.exporters import load_schema, schema_for, validate
from monitoring_layer.exporters.traces import TRACES_SCHEMA_VERSION, migrate_traces_document
from monitoring_layer.exporters._store import JsonFileStore, prepare_home
from monitoring_layer.tracing import TracingCollector

# span name -> the status every reader must show
EXPECTED = {
    "job": "SUCCESS",          # the root span ended SUCCESS (its trace is ERROR: other spans failed)
    "ok": "SUCCESS",
    "failed": "ERROR",
    "cancelled": "CANCELLED",
    "timed_out": "TIMEOUT",
    "raw_ok": "SUCCESS",       # OTel StatusCode.OK
    "raw_unset": "SUCCESS",    # OTel StatusCode.UNSET (left as it is)
    "raw_error": "ERROR",      # OTel StatusCode.ERROR
}
OTEL_CODES = {"job": "UNSET", "ok": "UNSET", "failed": "ERROR", "cancelled": "UNSET", "timed_out": "ERROR",
              "raw_ok": "OK", "raw_unset": "UNSET", "raw_error": "ERROR"}


# --------------------------------------------------------------------------- the mapping itself


@pytest.mark.parametrize(("code", "attribute", "expected"), [
    (StatusCode.UNSET, None, "SUCCESS"),
    (StatusCode.OK, None, "SUCCESS"),
    (StatusCode.ERROR, None, "ERROR"),
    ("UNSET", "CANCELLED", "CANCELLED"),
    (0, "ABANDONED", "ABANDONED"),
    (2, "TIMEOUT", "TIMEOUT"),
    ("ERROR", "CANCELLED", "ERROR"),       # the code decides whether it failed; the word only refines
    ("OK", "TIMEOUT", "SUCCESS"),
    (StatusCode.ERROR, "MAYBE", "ERROR"),  # a word outside the vocabulary is ignored
    ("nonsense", None, "SUCCESS"),
])
def test_span_status_table(code, attribute, expected):
    assert _status.span_status(code, attribute) == expected
    assert _status.is_error(expected) is (_status.otel_code_name(code) == "ERROR")


def test_trace_status_and_filters():
    assert _status.trace_status(["SUCCESS", "CANCELLED"]) == "SUCCESS"
    assert _status.trace_status(["SUCCESS", "TIMEOUT"]) == "ERROR"
    assert _status.trace_status(["ERROR"], ended=False) == "ACTIVE"
    assert [_status.parse_trace_status(v) for v in ("error", " Success ", "ok")] == ["ERROR", "SUCCESS", "SUCCESS"]
    for bad in ("ACTIVE", "UNSET", "", 1, None):
        with pytest.raises(ValueError, match="^status"):
            _status.parse_trace_status(bad)


def test_the_schema_enums_are_the_vocabulary():
    trace = load_schema("traces")["properties"]["traces"]["items"]
    span = trace["properties"]["spans"]["items"]["properties"]
    assert trace["properties"]["status"]["enum"] == list(_status.TRACE_STATUSES)
    assert span["status"]["enum"] == list(_status.SPAN_STATUSES)
    assert span["otel_status_code"]["enum"] == list(_status.OTEL_CODES)
    assert load_schema("traces")["properties"]["schema_version"]["enum"] == [TRACES_SCHEMA_VERSION]


# --------------------------------------------------------------------------- one trace, every reader


def _one_trace(traces: TracingCollector, provider: Any) -> str:
    trace_id = traces.start_trace("job")
    for name, status in (("ok", "SUCCESS"), ("failed", "ERROR"), ("cancelled", "CANCELLED"),
                         ("timed_out", "TIMEOUT")):
        traces.end_span(traces.start_span(name, "etl"), status)
    tracer = provider.get_tracer("raw-instrumentation")
    for name, code in (("raw_ok", StatusCode.OK), ("raw_unset", None), ("raw_error", StatusCode.ERROR)):
        with tracer.start_as_current_span(name, end_on_exit=True, record_exception=False,
                                          set_status_on_exception=False) as span:
            if code is not None:
                span.set_status(Status(code))
    traces.end_trace(trace_id, "SUCCESS")
    return trace_id


def _by_name(spans: list[dict[str, Any]], key: str = "name") -> dict[str, str]:
    return {s.get(key) or s.get("operation_name"): s["status"] for s in spans}


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err)
    return status, out.getvalue()


@pytest.mark.integration
def test_one_trace_shows_the_same_words_everywhere(pipeline, home: Path) -> None:
    traces = TracingCollector(pipeline.tracer_provider, settings=pipeline.settings)
    live = ObservabilityDashboard(tracing_collector=traces)  # before the trace: its rollup sees it end
    trace_id = _one_trace(traces, pipeline.tracer_provider)
    assert pipeline.flush()

    # the file: words, and OTel's own code beside them
    doc = json.loads((home / "traces/traces.json").read_text())
    assert doc["schema_version"] == TRACES_SCHEMA_VERSION
    jsonschema.validate(doc, load_schema("traces"))
    (written,) = doc["traces"]
    assert _by_name(written["spans"]) == EXPECTED and written["status"] == "ERROR"
    assert {s["name"]: s["otel_status_code"] for s in written["spans"]} == OTEL_CODES

    # the queries
    queried = traces.get_trace(trace_id)
    assert queried is not None and len(queried["spans"]) == len(EXPECTED)  # the raw spans are in the trace
    assert _by_name(queried["spans"], "operation_name") == EXPECTED and queried["status"] == "ERROR"
    assert queried["error_count"] == 3  # failed, timed_out, raw_error
    assert [t["trace_id"] for t in traces.get_error_traces()] == [trace_id]

    # the dashboard's API, live and over the home's files, on a real server
    for board in (live, ObservabilityDashboard.from_home(home)):
        router = Router()
        mount_dashboard(router, board, environ={})
        with start_server(router, "127.0.0.1", 0) as server:
            shown = _get(f"{server.url}/api/traces?trace_id={trace_id}")
            errors = _get(f"{server.url}/api/traces?status=error")
            successes = _get(f"{server.url}/api/traces?status=SUCCESS")
            with pytest.raises(urllib.error.HTTPError) as refused:
                _get(f"{server.url}/api/traces?status=UNSET")
            assert refused.value.code == 400 and "status" in json.loads(refused.value.read())["error"]
        assert _by_name(shown["spans"]) == EXPECTED and shown["status"] == "ERROR"
        assert shown["error_count"] == 3
        assert [t["trace_id"] for t in errors["traces"]] == [trace_id] and errors["traces"][0]["status"] == "ERROR"
        assert successes["traces"] == []

    # the command line: --json is the file's record, the waterfall prints the same words
    status, out = _cli("traces", "show", trace_id, "--home", str(home), "--json")
    assert status == 0 and _by_name(json.loads(out)["trace"]["spans"]) == EXPECTED
    status, out = _cli("traces", "show", trace_id, "--home", str(home))
    header, _, _, *rows = out.splitlines()
    words = {row.split()[0]: row.split()[2] for row in rows if row.split()[0] in EXPECTED}  # name component status
    assert status == 0 and words == EXPECTED and header.split()[5] == "ERROR"  # the trace's status in the header
    status, out = _cli("traces", "list", "--home", str(home), "--status", "error", "--json")
    assert status == 0 and [t["status"] for t in json.loads(out)["traces"]] == ["ERROR"]
    assert _cli("traces", "list", "--home", str(home), "--status", "UNSET")[0] == 2  # not a status word


def test_trace_filters_refuse_other_words(pipeline) -> None:
    board = ObservabilityDashboard(tracing_collector=TracingCollector(pipeline.tracer_provider,
                                                                      settings=pipeline.settings))
    assert board.get_traces_panel(status="ERROR")["status"] == "ERROR"
    assert board.get_traces_panel(status="ok")["status"] == "SUCCESS"
    with pytest.raises(ValueError, match="^status"):
        board.get_traces_panel(status="UNSET")


# --------------------------------------------------------------------------- files of schema 1


def _schema_1_span(span_id: str, name: str, start: int, code: str, attributes: dict[str, Any] | None = None,
                   parent: str | None = "1000000000000000") -> dict[str, Any]:
    end = start + 1_000_000
    return {"span_id": span_id, "parent_span_id": parent, "name": name, "kind": "INTERNAL", "service": "etl",
            "scope": "etl", "start": "2026-11-18T11:06:40.000000Z", "start_unix_nano": start,
            "end": "2026-11-18T11:06:40.001000Z", "end_unix_nano": end, "duration_ms": 1.0, "status": code,
            "status_message": None, "attributes": attributes or {}, "events": [], "links": []}


def _schema_1_home(home: Path, end_ns: int) -> str:
    """A traces.json exactly as the exporter wrote it before schema 2."""
    t0 = end_ns - 10_000_000
    spans = [
        _schema_1_span("1000000000000000", "job", t0, "UNSET", parent=None),
        _schema_1_span("2000000000000000", "ok", t0 + 1, "OK"),
        _schema_1_span("3000000000000000", "cancelled", t0 + 2, "UNSET", {"monitoring.status": "CANCELLED"}),
        _schema_1_span("4000000000000000", "timed_out", t0 + 3, "ERROR", {"monitoring.status": "TIMEOUT"}),
    ]
    trace_id = "c3" * 16
    trace = {"trace_id": trace_id, "service": "etl", "name": "job", "root_span_id": spans[0]["span_id"],
             "complete": True, "status": "ERROR", "start": spans[0]["start"], "start_unix_nano": t0,
             "end": spans[0]["end"], "end_unix_nano": end_ns, "duration_ms": 10.0, "span_count": len(spans),
             "dropped_spans": 0, "spans": spans}
    ok_trace = {**trace, "trace_id": "d4" * 16, "status": "OK", "span_count": 1,
                "spans": [_schema_1_span("5000000000000000", "ping", t0, "UNSET", parent=None)]}
    prepare_home(home, "traces")
    JsonFileStore(home / "traces/traces.json", "traces", schema_version=1).update(
        lambda doc: {**doc, "traces": [trace, ok_trace]})
    doc = json.loads((home / "traces/traces.json").read_text())
    assert doc["schema_version"] == 1 and validate(doc, load_schema(schema_for("traces", doc))) == []
    return trace_id


OLD_EXPECTED = {"job": "SUCCESS", "ok": "SUCCESS", "cancelled": "CANCELLED", "timed_out": "TIMEOUT"}


def test_migration_of_a_schema_1_document() -> None:
    doc = {"schema_version": 1, "kind": "traces", "traces": [
        {"trace_id": "c3" * 16, "status": "OK", "spans": [
            {"span_id": "1" * 16, "status": "UNSET", "attributes": {"monitoring.status": "ABANDONED"}},
            {"span_id": "2" * 16, "status": "OK", "attributes": {}}]},
        {"trace_id": "d4" * 16, "status": "ERROR", "spans": [
            {"span_id": "3" * 16, "status": "ERROR", "attributes": {"monitoring.status": "TIMEOUT"}}]}]}
    migrated = migrate_traces_document(json.loads(json.dumps(doc)))
    assert migrated["schema_version"] == 2
    first, second = migrated["traces"]
    assert [(s["status"], s["otel_status_code"]) for s in first["spans"]] == [("ABANDONED", "UNSET"),
                                                                             ("SUCCESS", "OK")]
    assert first["status"] == "SUCCESS"
    assert [(s["status"], s["otel_status_code"]) for s in second["spans"]] == [("TIMEOUT", "ERROR")]
    assert second["status"] == "ERROR"
    assert migrate_traces_document(json.loads(json.dumps(migrated))) == migrated  # twice changes nothing


@pytest.mark.integration
def test_a_schema_1_file_is_read_in_the_vocabulary_everywhere(pipeline, home: Path) -> None:
    import time

    trace_id = _schema_1_home(home, time.time_ns())

    # check: valid, as an older schema the library migrates
    status, out = _cli("check", "--home", str(home), "--json")
    (entry,) = [f for f in json.loads(out)["files"] if f["file"] == "traces/traces.json"]
    assert status == 0 and entry["status"] == "ok" and "migrated" in entry["notes"][0]

    # the CLI migrates in memory (the file is only read)
    status, out = _cli("traces", "show", trace_id, "--home", str(home), "--json")
    assert status == 0 and _by_name(json.loads(out)["trace"]["spans"]) == OLD_EXPECTED
    status, out = _cli("traces", "list", "--home", str(home), "--status", "success", "--json")
    assert [t["status"] for t in json.loads(out)["traces"]] == ["SUCCESS"]
    assert json.loads((home / "traces/traces.json").read_text())["schema_version"] == 1

    # the dashboard over the home
    board = ObservabilityDashboard.from_home(home)
    shown = board.get_trace(trace_id)
    assert shown is not None and _by_name(shown["spans"]) == OLD_EXPECTED and shown["status"] == "ERROR"
    assert {t["status"] for t in board.get_traces_panel()["traces"]} == {"ERROR", "SUCCESS"}

    # the exporter's next write migrates the whole file to schema 2, keeping the old traces
    traces = TracingCollector(pipeline.tracer_provider, settings=pipeline.settings)
    traces.end_trace(traces.start_trace("new"), "SUCCESS")
    assert pipeline.flush()
    doc = json.loads((home / "traces/traces.json").read_text())
    assert doc["schema_version"] == 2 and validate(doc, load_schema("traces")) == []
    jsonschema.validate(doc, load_schema("traces"))
    old = next(t for t in doc["traces"] if t["trace_id"] == trace_id)
    assert _by_name(old["spans"]) == OLD_EXPECTED and old["status"] == "ERROR"
    assert {t["trace_id"]: t["status"] for t in doc["traces"]}["d4" * 16] == "SUCCESS"
    assert len(doc["traces"]) == 3


def test_otel_status_code_name_reaches_the_file_for_the_global_api(pipeline, home: Path) -> None:
    """A span made through OTel's API alone (no facade) gets the vocabulary too."""
    tracer = otel_trace.get_tracer("x", tracer_provider=pipeline.tracer_provider)
    with tracer.start_as_current_span("plain", record_exception=False, set_status_on_exception=False) as span:
        span.set_status(Status(StatusCode.ERROR, "boom"))
    assert pipeline.flush()
    (trace,) = json.loads((home / "traces/traces.json").read_text())["traces"]
    assert trace["status"] == "ERROR"
    assert [(s["status"], s["otel_status_code"], s["status_message"]) for s in trace["spans"]] == [
        ("ERROR", "ERROR", "boom")]


def test_migration_tolerates_a_hand_edited_record() -> None:
    odd = {"trace_id": "e5" * 16, "status": ["?"], "spans": [
        {"span_id": "1" * 16, "status": ["UNSET"], "attributes": {"monitoring.status": ["CANCELLED"]}},
        {"span_id": "2" * 16, "status": "SUCCESS", "otel_status_code": "UNSET", "attributes": None},
        "not a span"]}
    _status.migrate_trace_record(odd)
    assert [(s["status"], s["otel_status_code"]) for s in odd["spans"][:2]] == [("SUCCESS", "UNSET"),
                                                                              ("SUCCESS", "UNSET")]
    assert odd["status"] == "SUCCESS"
    assert _status.migrate_trace_record({"trace_id": "f6" * 16, "spans": None}) == {"trace_id": "f6" * 16,
                                                                                    "spans": None}
