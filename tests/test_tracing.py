"""Tracing collector: the spec's API on a private pipeline (one TracingCollector per test)."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from monitoring_layer import _selfmon, config
from monitoring_layer.exporters.schema import load_schema
from monitoring_layer.pipeline import Pipeline
from monitoring_layer.tracing import TraceStore, TracingCollector

HEX32 = set("0123456789abcdef")


@pytest.fixture(autouse=True)
def _fresh_context() -> Iterator[None]:
    # A test that leaves a span current must not become the parent of the next test's spans.
    token = otel_context.attach(Context())
    yield
    otel_context.attach(Context())
    otel_context.detach(token)


@pytest.fixture
def traces(pipeline: Pipeline) -> TracingCollector:
    return TracingCollector(pipeline.tracer_provider, settings=pipeline.settings)


def _traces_file(pipeline: Pipeline) -> dict:
    pipeline.flush()
    doc = json.loads((pipeline.settings.home / "traces" / "traces.json").read_text())
    jsonschema.validate(doc, load_schema("traces"))
    return doc


def _raw_trace(pipeline: Pipeline, service: str, start_ns: int, duration_ms: float, error: bool = False) -> str:
    """A trace made by 'other instrumentation' with exact times (no sleeping)."""
    tracer = pipeline.tracer_provider.get_tracer("other.instrumentation")
    span = tracer.start_span("job", context=Context(), start_time=start_ns,
                             attributes={"monitoring.service": service})
    if error:
        span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, "boom"))
    span.end(end_time=start_ns + int(duration_ms * 1e6))
    return otel_trace.format_trace_id(span.get_span_context().trace_id)


# --------------------------------------------------------------------------- the spec's core methods


def test_core_methods_as_in_the_spec(traces: TracingCollector, pipeline: Pipeline, tmp_path: Path) -> None:
    trace_id = traces.start_trace(service="user-service", request_id="req_123")
    auth_span = traces.start_span(operation_name="authenticate", component="auth-service")
    traces.add_event(auth_span, "user_logged_in", {"user_id": "123"})
    traces.add_tag(auth_span, "user_role", "admin")
    assert traces.end_span(auth_span, "SUCCESS") is True
    assert traces.end_trace(trace_id) is True

    assert len(trace_id) == 32 and set(trace_id) <= HEX32
    assert len(auth_span) == 16 and set(auth_span) <= HEX32
    trace = traces.get_trace(trace_id)
    assert trace is not None
    assert trace["trace_id"] == trace_id
    assert trace["service"] == "user-service"
    assert trace["request_id"] == "req_123"
    assert trace["status"] == "SUCCESS" and trace["complete"] is True
    assert trace["duration_ms"] >= 0 and trace["start"] <= trace["end"]
    root, auth = trace["spans"]
    assert root["parent_span_id"] is None and root["span_id"] == trace["root_span_id"]
    assert auth["span_id"] == auth_span and auth["parent_span_id"] == root["span_id"]
    assert auth["operation_name"] == "authenticate" and auth["component"] == "auth-service"
    assert auth["service"] == "user-service"
    assert auth["tags"] == {"user_role": "admin"}
    assert [(e["name"], e["attributes"]) for e in auth["events"]] == [("user_logged_in", {"user_id": "123"})]
    assert auth["status"] == "SUCCESS" and auth["duration_ms"] >= 0
    # the tree is ready for display: nested children with their depth
    (tree_root,) = trace["tree"]
    assert tree_root["span_id"] == root["span_id"] and tree_root["depth"] == 0
    assert [(c["span_id"], c["depth"]) for c in tree_root["children"]] == [(auth_span, 1)]

    assert traces.get_slow_traces(duration_threshold_ms=0)[0]["trace_id"] == trace_id
    assert traces.get_slow_traces(duration_threshold_ms=10**9) == []
    assert traces.get_error_traces() == []
    stats = traces.get_tracing_statistics()
    assert (stats["total_traces"], stats["completed_traces"], stats["active_traces"], stats["error_traces"]) \
        == (1, 1, 0, 0)
    assert stats["by_service"]["user-service"]["traces"] == 1

    out = tmp_path / "trace.json"
    assert traces.export_trace(trace_id, out) is True
    assert json.loads(out.read_text())["trace_id"] == trace_id
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert traces.export_trace("f" * 32, tmp_path / "none.json") is False

    doc = _traces_file(pipeline)
    (written,) = doc["traces"]
    assert written["trace_id"] == trace_id and written["service"] == "user-service"
    assert written["complete"] is True and written["span_count"] == 2
    span_scopes = {s["name"]: s["scope"] for s in written["spans"]}
    assert span_scopes["authenticate"] == "auth-service"  # the component is the span's instrumentation scope


def test_spans_nest_under_the_current_span_and_pop_back(traces: TracingCollector) -> None:
    trace_id = traces.start_trace("etl")
    outer = traces.start_span("extract", "reader")
    inner = traces.start_span("parse", "reader")
    traces.end_span(inner)
    sibling = traces.start_span("validate", "reader")  # inner ended: outer is current again
    traces.end_span(sibling)
    traces.end_span(outer)
    after = traces.start_span("load", "writer")       # outer ended: the root is current again
    traces.end_span(after)
    traces.end_trace(trace_id)

    parents = {s["span_id"]: s["parent_span_id"] for s in traces.get_trace(trace_id)["spans"]}
    root = traces.get_trace(trace_id)["root_span_id"]
    assert parents[outer] == root and parents[after] == root
    assert parents[inner] == outer and parents[sibling] == outer
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN  # end_trace left the trace


def test_explicit_parent_and_trace_id(traces: TracingCollector) -> None:
    first = traces.start_trace("a")
    a_span = traces.start_span("step", "x")
    second = traces.start_trace("b")  # a new trace, current from now on
    explicit = traces.start_span("child", "x", parent_span_id=a_span)
    traces.end_span(explicit)
    by_trace = traces.start_span("late", "x", trace_id=first)  # parent: the root of `first`
    traces.end_span(by_trace)
    traces.end_span(a_span)
    traces.end_trace(second)
    traces.end_trace(first)

    spans = {s["span_id"]: s for s in traces.get_trace(first)["spans"]}
    assert spans[explicit]["parent_span_id"] == a_span
    assert spans[by_trace]["parent_span_id"] == traces.get_trace(first)["root_span_id"]
    assert len(traces.get_trace(second)["spans"]) == 1


def test_statuses_map_onto_otel(traces: TracingCollector, pipeline: Pipeline) -> None:
    trace_id = traces.start_trace("svc")
    ok = traces.start_span("ok", "c")
    traces.end_span(ok, "SUCCESS")
    validated = traces.start_span("validated", "c")
    traces.end_span(validated, "OK")
    failed = traces.start_span("failed", "c")
    traces.end_span(failed, "ERROR", error=TimeoutError("broker did not answer"))
    cancelled = traces.start_span("cancelled", "c")
    traces.end_span(cancelled, "cancelled")
    implied = traces.start_span("implied", "c")
    traces.end_span(implied, error="bad record")  # an error without a status is an ERROR
    traces.end_trace(trace_id)

    spans = {s["operation_name"]: s for s in traces.get_trace(trace_id)["spans"]}
    assert spans["ok"]["status"] == "SUCCESS" and spans["validated"]["status"] == "SUCCESS"
    assert spans["failed"]["status"] == "ERROR"
    assert spans["failed"]["status_message"] == "TimeoutError: broker did not answer"
    assert spans["failed"]["tags"]["error.type"] == "TimeoutError"
    (event,) = spans["failed"]["events"]
    assert event["name"] == "exception" and event["attributes"]["exception.type"] == "TimeoutError"
    assert spans["cancelled"]["status"] == "CANCELLED"
    assert spans["implied"]["status"] == "ERROR" and spans["implied"]["status_message"] == "bad record"
    assert traces.get_trace(trace_id)["status"] == "ERROR"
    assert [t["trace_id"] for t in traces.get_error_traces()] == [trace_id]

    written = {s["name"]: s for s in _traces_file(pipeline)["traces"][0]["spans"]}
    # The file shows the queries' words; OTel's own code beside them: SUCCESS leaves OTel's UNSET
    # ("completed without error"), only an explicit OK sets OK
    names = ("ok", "validated", "failed", "cancelled", "implied")
    assert [written[n]["status"] for n in names] == [spans[n]["status"] for n in names]
    assert [written[n]["otel_status_code"] for n in names] == ["UNSET", "OK", "ERROR", "UNSET", "ERROR"]
    assert written["cancelled"]["attributes"]["monitoring.status"] == "CANCELLED"


def test_unknown_status_raises_under_strict_and_still_ends_the_span(traces: TracingCollector) -> None:
    trace_id = traces.start_trace("svc")
    span = traces.start_span("op", "c")
    with pytest.raises(ValueError, match="status"):
        traces.end_span(span, "MAYBE")
    assert traces.end_span(span) is False  # it did end
    traces.end_trace(trace_id)


def test_bad_span_ids_return_false_and_are_counted(traces: TracingCollector) -> None:
    trace_id = traces.start_trace("svc")
    span = traces.start_span("op", "c")
    assert traces.end_span(span) is True
    assert traces.end_span(span) is False           # already ended
    assert traces.end_span("0123456789abcdef") is False  # unknown
    assert traces.add_tag(span, "k", "v") is False
    assert traces.add_event("nope", "e") is False
    assert traces.end_trace("f" * 32) is False
    traces.end_trace(trace_id)

    stats = traces.get_tracing_statistics()
    assert stats["invalid_span_ends"] == 3 and stats["invalid_span_calls"] == 2
    assert _selfmon.counts()["errors"]["tracing"] == 5


def test_tags_otel_cannot_hold_become_strings(traces: TracingCollector) -> None:
    trace_id = traces.start_trace("svc", tenant=None, batch=7)
    span = traces.start_span("op", "c", tags={"config": {"a": 1}, "ids": [1, 2], "mixed": [1, "a"], 3: "k"})
    traces.add_tag(span, "obj", object)
    traces.add_tag(span, "none", None)
    traces.end_span(span)
    traces.end_trace(trace_id)

    trace = traces.get_trace(trace_id)
    tags = next(s["tags"] for s in trace["spans"] if s["span_id"] == span)
    assert tags == {"config": "{'a': 1}", "ids": [1, 2], "mixed": "[1, 'a']", "3": "k",
                    "obj": "<class 'object'>", "none": "None"}
    assert trace["spans"][0]["tags"] == {"tenant": "None", "batch": 7}


def test_end_trace_cancels_its_open_spans(traces: TracingCollector) -> None:
    trace_id = traces.start_trace("svc")
    left_open = traces.start_span("forgotten", "c")
    assert traces.end_trace(trace_id) is True
    assert traces.end_span(left_open) is False  # end_trace already ended it
    spans = {s["span_id"]: s for s in traces.get_trace(trace_id)["spans"]}
    assert spans[left_open]["status"] == "CANCELLED"
    assert traces.get_trace(trace_id)["status"] == "SUCCESS"


def test_open_spans_are_active_and_bounded(pipeline: Pipeline) -> None:
    settings = config.resolve_settings(overrides={"export_interval_s": 3600, "traces_max_active_spans": 3})
    traces = TracingCollector(pipeline.tracer_provider, settings=settings)
    trace_id = traces.start_trace("svc")
    spans = [traces.start_span(f"op{i}", "c") for i in range(4)]  # 5 open with the root: 2 too many

    assert [s["operation_name"] for s in traces.get_active_spans()] == ["op1", "op2", "op3"]
    trace = traces.get_trace(trace_id)
    # the root was the oldest, so it was abandoned: the trace is complete, with spans still open
    assert trace["complete"] is True and trace["active_spans"] == 3
    by_name = {s["operation_name"]: s for s in trace["spans"]}
    assert by_name["svc"]["status"] == "ABANDONED" and by_name["op0"]["status"] == "ABANDONED"
    assert by_name["op3"]["status"] == "ACTIVE" and by_name["op3"]["end"] is None
    assert traces.get_tracing_statistics()["abandoned_spans"] == 2
    assert _selfmon.counts()["dropped"][("spans", "max_active_spans")] == 2
    assert traces.end_span(spans[0]) is False
    assert all(traces.end_span(s) for s in spans[1:])


def test_statistics_and_slow_traces_from_any_instrumentation(traces: TracingCollector, pipeline: Pipeline) -> None:
    t0 = 1_900_000_000 * 10**9
    durations = [10, 20, 30, 40, 2000]
    ids = [_raw_trace(pipeline, "batch", t0 + i * 10**9, d) for i, d in enumerate(durations)]
    failed = _raw_trace(pipeline, "api", t0 + 10 * 10**9, 5, error=True)
    active = traces.start_trace("api")

    stats = traces.get_tracing_statistics()
    assert (stats["total_traces"], stats["completed_traces"], stats["active_traces"], stats["error_traces"]) \
        == (7, 6, 1, 1)
    assert stats["by_service"]["batch"]["completed"] == 5
    assert stats["by_service"]["api"] == {
        "traces": 2, "completed": 1, "active": 1, "errors": 1,
        "duration_ms": {"count": 1, "mean": 5.0, "p50": 5.0, "p95": 5.0, "p99": 5.0, "max": 5.0}}
    assert stats["duration_ms"] == {"count": 6, "mean": 350.833333, "p50": 20.0, "p95": 2000.0,
                                    "p99": 2000.0, "max": 2000.0}

    slow = traces.get_slow_traces(duration_threshold_ms=25)
    assert [t["trace_id"] for t in slow] == [ids[4], ids[3], ids[2]]  # slowest first
    assert [t["trace_id"] for t in traces.get_slow_traces(25, limit=1)] == [ids[4]]
    assert [t["trace_id"] for t in traces.get_error_traces()] == [failed]
    assert traces.get_trace(ids[0])["spans"][0]["component"] == "other.instrumentation"
    with pytest.raises(ValueError, match="limit"):
        traces.get_slow_traces(limit=-1)
    traces.end_trace(active)


def test_trace_ids_are_validated_at_query(traces: TracingCollector) -> None:
    assert traces.get_trace("not-hex") is None
    with pytest.raises(TypeError, match="trace_id"):
        traces.get_trace(123)  # type: ignore[arg-type]


def test_sdk_disabled_answers_empty() -> None:
    settings = config.resolve_settings(overrides={"sdk_disabled": True})
    disabled = Pipeline(settings)
    traces = TracingCollector(disabled.tracer_provider, settings=settings)
    trace_id = traces.start_trace("svc")
    span = traces.start_span("op", "c")
    assert traces.end_span(span) is True
    assert traces.get_trace(trace_id) is None
    assert traces.get_tracing_statistics()["total_traces"] == 0


def test_memory_store_keeps_traces_for_the_retention_and_counts_what_it_drops(pipeline: Pipeline) -> None:
    now = [2_000_000_000 * 10**9]
    store = TraceStore(max_traces=2, retention_days=1, clock_ns=lambda: now[0])
    pipeline.tracer_provider.add_span_processor(store)
    traces = TracingCollector(pipeline.tracer_provider, store=store, settings=pipeline.settings)
    day = 86_400 * 10**9
    old = _raw_trace(pipeline, "batch", now[0] - 2 * day, 5)
    recent = _raw_trace(pipeline, "batch", now[0] - day // 2, 5)
    assert traces.get_trace(old) is None and traces.get_trace(recent) is not None
    assert traces.get_tracing_statistics()["total_traces"] == 1
    assert [t["trace_id"] for t in traces.get_slow_traces(0)] == [recent]
    assert _selfmon.counts()["dropped"][("traces", "memory_retention_age")] == 1

    newer = [_raw_trace(pipeline, "batch", now[0], 5) for _ in range(2)]
    assert traces.get_trace(recent) is None  # max_traces=2: the oldest went
    assert [traces.get_trace(t) is not None for t in newer] == [True, True]
    assert _selfmon.counts()["dropped"][("traces", "memory_max_traces")] == 1
    with pytest.raises(ValueError, match="max_traces"):
        TraceStore(max_traces=0)


class _BrokenProcessor(SpanProcessor):
    def on_start(self, span, parent_context=None):  # type: ignore[no-untyped-def]
        raise RuntimeError("broken on_start")


def test_faults_inside_otel_are_contained_when_not_strict(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()
    provider = TracerProvider()
    provider.add_span_processor(_BrokenProcessor())
    traces = TracingCollector(provider, settings=pipeline.settings)
    trace_id = traces.start_trace("svc")
    span = traces.start_span("op", "c")
    assert (trace_id, span) == ("0" * 32, "0" * 16)  # contained, counted, and harmless to end
    assert traces.end_span(span) is True and traces.end_trace(trace_id) is True
    assert _selfmon.counts()["errors"]["tracing"] == 2

    healthy = TracingCollector(pipeline.tracer_provider, settings=pipeline.settings)
    trace_id = healthy.start_trace("svc")
    span = healthy.start_span("op", "c")
    assert healthy.end_span(span, "MAYBE") is True  # an unknown status: ERROR, counted
    healthy.end_trace(trace_id)
    (_, op) = healthy.get_trace(trace_id)["spans"]
    assert (op["status"], op["status_message"]) == ("ERROR", "unknown status 'MAYBE'")
    assert healthy.get_trace(trace_id)["status"] == "ERROR"
    assert _selfmon.counts()["errors"]["tracing"] == 3
    provider.shutdown()


def test_other_instrumentation_nests_with_facade_spans(traces: TracingCollector, pipeline: Pipeline) -> None:
    tracer = pipeline.tracer_provider.get_tracer("opentelemetry.instrumentation.example")
    trace_id = traces.start_trace("svc")
    facade = traces.start_span("query", "db")
    with tracer.start_as_current_span("SELECT") as inner:
        nested = traces.start_span("decode", "db")  # under the instrumentation's current span
        traces.end_span(nested)
    traces.end_span(facade)
    traces.end_trace(trace_id)

    spans = {s["operation_name"]: s for s in traces.get_trace(trace_id)["spans"]}
    assert spans["SELECT"]["parent_span_id"] == facade
    assert spans["SELECT"]["component"] == "opentelemetry.instrumentation.example"
    assert spans["decode"]["parent_span_id"] == otel_trace.format_span_id(inner.get_span_context().span_id)
    written = _traces_file(pipeline)["traces"][0]
    assert written["span_count"] == 4 and written["complete"] is True


@contextlib.contextmanager
def _store_on_a_provider(**bounds: int) -> Iterator[tuple[TraceStore, Any]]:
    """A ``TraceStore`` with ``bounds`` as the only processor of a fresh provider: ``(store, tracer)``."""
    store = TraceStore(**bounds)
    provider = TracerProvider()
    provider.add_span_processor(store)
    try:
        yield store, provider.get_tracer("t")
    finally:
        provider.shutdown()


def test_trace_store_bounds_running_spans_and_keeps_its_count_exact() -> None:
    with _store_on_a_provider(max_active_spans=10) as (store, tracer):
        running = [tracer.start_span(f"s{i}", context=Context()) for i in range(25)]  # 25 root spans, never ended
        rows, active = store.summaries()
        assert active <= 10
        assert _selfmon.counts()["dropped"][("spans", "memory_max_active")] == 25 - active
        for span in running:  # ending forgotten spans still records them, and the count never goes below 0
            span.end()
        rows, active = store.summaries()
        assert active == 0 and len(rows) == 25 and all(complete for _root, complete, *_ in rows)
        # a finished trace is kept frozen; a late child span of it thaws it and is counted again
        late = tracer.start_span("late", context=otel_trace.set_span_in_context(running[0]))
        assert store.summaries()[1] == 1
        late.end()
        snap = store.snapshot(running[0].get_span_context().trace_id)
        assert snap is not None and [r[4] for r in snap.ended] == ["s0", "late"] and store.summaries()[1] == 0


def _six_span_trace(tracer: Any, attributes: dict[str, Any] | None = None) -> int:
    root = tracer.start_span("root", context=Context(), attributes=attributes)
    inside = otel_trace.set_span_in_context(root)
    for _ in range(5):
        tracer.start_span("child", context=inside).end()
    root.end()
    return root.get_span_context().trace_id  # type: ignore[no-any-return]


def test_recording_spans_does_not_keep_the_garbage_collector_busy() -> None:
    # The store applies its inbox every few dozen items, so the SDK's objects of an ended span
    # are freed about as it ends. Batches of 256 kept a hundred or more spans' objects alive at a
    # time, and the youngest collection (700 allocations) ran every ~70 spans, a full one every
    # ~8,000 (93 collections per 1,000 of these traces, against 19). What remains is the store
    # itself: the records it keeps.
    counted = [0]

    def count(phase: str, info: dict[str, int]) -> None:
        counted[0] += phase == "start"

    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    with _store_on_a_provider() as (store, tracer):
        for _ in range(200):
            _six_span_trace(tracer, {"n": 1, "who": "x"})
        gc.set_threshold(700, 10, 10)
        gc.enable()  # CPython's defaults, whatever the session set: a disabled collector would count 0
        gc.collect()
        gc.callbacks.append(count)
        try:
            for _ in range(1_000):
                _six_span_trace(tracer, {"n": 1, "who": "x"})
        finally:
            gc.callbacks.remove(count)
            gc.set_threshold(*thresholds)
            if not enabled:
                gc.disable()
        assert store.summaries()[0][-1][1]  # the traces were kept (complete), so the records were made
    # Some collections remain (the records the store keeps are allocations too): none would mean
    # the count measured nothing.
    assert 0 < counted[0] < 40, f"{counted[0]} collections for 1,000 six-span traces"


@pytest.mark.parametrize("attributes", [None, {"n": 1, "who": "x", "ok": True, "ratio": 0.5}])
def test_a_done_trace_is_untracked_by_the_collector_within_two_young_collections(attributes) -> None:
    from monitoring_layer.tracing import _views

    # A done trace is one flat tuple of atoms and records, and a record ends with its attributes'
    # keys and values (atoms too): two levels. A collection untracks one level of tuples at a
    # time, and each level more would keep it tracked one collection longer, into the oldest
    # generation, where only the full collections (rare) look at it. (A sequence-valued attribute,
    # and a span's events and links, still nest: a known gap, rarer.)
    enabled = gc.isenabled()
    gc.disable()
    try:
        with _store_on_a_provider() as (store, tracer):
            trace_id = _six_span_trace(tracer, attributes)
            store.summaries()  # applies the inbox
            entry = store._traces[trace_id]
            assert type(entry) is tuple and gc.is_tracked(entry)
            gc.collect(0)
            gc.collect(1)
            assert not gc.is_tracked(entry)
            snap = store.snapshot(trace_id)
            assert snap.complete and len(snap.ended) == 6
            view = _views.trace_view(snap)
            assert view["spans"][0]["tags"] == {k: list(v) if type(v) is tuple else v
                                                for k, v in (attributes or {}).items()}
    finally:
        if enabled:
            gc.enable()


def test_a_fault_in_the_trace_store_never_reaches_the_code_ending_a_span(monkeypatch) -> None:
    from monitoring_layer.tracing import _store

    store = TraceStore()
    provider = TracerProvider()
    provider.add_span_processor(store)
    monkeypatch.setattr(_store, "record_of", lambda span: 1 / 0)  # as if a span could not be read
    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()
    try:
        provider.get_tracer("t").start_span("s").end()  # does not raise
        assert _selfmon.counts()["errors"]["tracing"] == 1
    finally:
        provider.shutdown()


def test_a_trace_kept_as_its_lone_root_reads_like_any_other_in_every_shape() -> None:
    with _store_on_a_provider(max_traces=2) as (store, tracer):
        root = tracer.start_span("root", context=Context())
        trace_id = root.get_span_context().trace_id
        snap = store.snapshot(trace_id)
        assert snap is not None and snap.active == [root] and snap.root is root and not snap.complete
        assert store.active_spans(trace_id) == [root]
        ((row_root, complete, error, start, end),), active = store.summaries()
        assert (row_root[4], complete, error, start, end, active) == ("root", False, False, root.start_time, 0, 1)

        child = tracer.start_span("child", context=otel_trace.set_span_in_context(root))  # now a running trace
        assert {s.name for s in store.active_spans(trace_id)} == {"root", "child"}
        child.end()
        root.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR))
        root.end()
        snap = store.snapshot(trace_id)
        assert [r[4] for r in snap.ended] == ["child", "root"] and snap.complete and snap.error and not snap.active

        alone = tracer.start_span("alone", context=Context())
        alone.end()  # the lone root ended: frozen directly
        snap = store.snapshot(alone.get_span_context().trace_id)
        assert [r[4] for r in snap.ended] == ["alone"] and snap.root[4] == "alone" and snap.complete
        assert (snap.error, snap.start_ns, snap.end_ns, snap.dropped_spans) == (
            False, alone.start_time, alone.end_time, 0)

        running = tracer.start_span("running", context=Context())  # evicts the first trace (max_traces=2)
        tracer.start_span("newest", context=Context())             # evicts "alone"
        assert store.snapshot(trace_id) is None and store.summaries()[1] == 2
        running.end()
        assert store.summaries()[1] == 1 and store.snapshot(running.get_span_context().trace_id).complete
        assert _selfmon.counts()["dropped"][("traces", "memory_max_traces")] == 2
