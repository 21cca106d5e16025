"""The traces writer's encoder process: the same file, and nothing lost when it dies, hangs or is forked away."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)

from monitoring_layer import JsonFileSpanExporter, _selfmon
from monitoring_layer.exporters import _encoder

# Enough new traces for one write to go to the encoder process.
TRACES = _encoder.MIN_TRACES + 20


def _spans(exporters, first=0, count=TRACES, shutdown=True):
    """``count`` traces of one to three spans into every exporter (the same spans each)."""
    provider = TracerProvider()
    for exporter in exporters:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("encoder-test", "1.0")
    for n in range(first, first + count):
        with tracer.start_as_current_span(f"job-{n % 7}", attributes={"n": n, "ratio": n / 7, "ok": n % 2 == 0,
                                                                      "tags": ("a", "é")}) as root:
            if n % 3:
                with tracer.start_as_current_span("stëp ☃", links=[Link(root.get_span_context(), {"why": "x"})]) as step:
                    step.add_event("rows", {"count": n})
            if n % 5 == 0:
                with tracer.start_as_current_span("fails") as bad:
                    bad.set_status(Status(StatusCode.ERROR, f"boom {n}\n\"quoted\""))
    if shutdown:
        provider.shutdown()  # shuts the exporters down too: callers read the files after
    return provider


def _traces(home):
    doc = json.loads((home / "traces" / "traces.json").read_text())
    return doc["traces"]


def _export_errors():
    return _selfmon.counts()["errors"].get("export", 0)


def _alive(pid):
    """Whether ``pid`` runs: an exited process left as a zombie (not waited for yet) does not."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("batch, keep", [(_encoder.BATCH_TRACES, _encoder.KEEP_BUFFER_BYTES), (128, 1_000)],
                         ids=["one request", "requests of 128 traces, no buffer kept"])
def test_a_busy_write_gets_the_same_file_from_the_encoder_process(tmp_path, monkeypatch, batch, keep):
    monkeypatch.setattr(_encoder, "BATCH_TRACES", batch)
    monkeypatch.setattr(_encoder, "KEEP_BUFFER_BYTES", keep)
    helped = JsonFileSpanExporter(tmp_path / "helped", export_interval_s=3600, max_spans_per_trace=2)
    alone = JsonFileSpanExporter(tmp_path / "alone", export_interval_s=3600, max_spans_per_trace=2)
    alone._use_encoder_process = False
    started = []
    encode = helped._encoder.encode

    def watched(*args):
        answer = encode(*args)
        started.append(helped._encoder.pid)
        return answer

    helped._encoder.encode = watched
    provider = _spans([helped, alone], shutdown=False)
    assert helped.force_flush() and alone.force_flush()
    assert helped._encoder.batches == 1 and started[0] is not None, "the write did not use the encoder process"
    assert alone._encoder.batches == 0 and alone._encoder.pid is None

    # A span ending after its trace was written joins that trace: the writer finds the trace's
    # text by its id, so each id must be paired with its own text.
    single = [t for t in _traces(tmp_path / "helped") if t["span_count"] == 1][::40]
    late = provider.get_tracer("late")
    for trace in single:
        parent = SpanContext(int(trace["trace_id"], 16), int(trace["root_span_id"], 16), is_remote=False,
                             trace_flags=TraceFlags(TraceFlags.SAMPLED))
        late.start_span("late", context=set_span_in_context(NonRecordingSpan(parent))).end()
    provider.shutdown()
    assert not _alive(started[0]), "the encoder process outlived the exporter's shutdown"
    ours, theirs = _traces(tmp_path / "helped"), _traces(tmp_path / "alone")
    assert len(ours) == TRACES and ours == theirs
    joined = {t["trace_id"]: t for t in ours}
    for trace in single:
        assert sorted(s["span_id"] for s in joined[trace["trace_id"]]["spans"]) == sorted(
            [trace["root_span_id"], next(s["span_id"] for s in joined[trace["trace_id"]]["spans"]
                                         if s["name"] == "late")]), "a late span joined the wrong trace"
    assert max(t["span_count"] for t in ours) == 2 and sum(t["dropped_spans"] for t in ours) == len(
        [n for n in range(TRACES) if n % 3 and n % 5 == 0]), "the spans over the cap are not counted"
    step = next(s for t in ours for s in t["spans"] if s["name"] == "stëp ☃")
    assert step["events"][0]["name"] == "rows" and step["links"][0]["attributes"] == {"why": "x"}
    assert any(t["status"] == "ERROR" for t in ours)


def test_a_dead_encoder_process_costs_a_count_and_is_started_again(tmp_path):
    exporter = JsonFileSpanExporter(tmp_path, export_interval_s=3600)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("encoder-test")

    def batch(first):
        for n in range(first, first + TRACES):
            tracer.start_span(f"t{n}").end()
        assert exporter.force_flush()

    batch(0)
    first_pid = exporter._encoder.pid
    assert first_pid is not None and exporter._encoder.batches == 1
    os.kill(first_pid, signal.SIGKILL)
    errors = _export_errors()
    batch(TRACES)  # its answer never comes: encoded here instead
    assert exporter._encoder.failures == 1 and _export_errors() == errors + 1
    assert exporter._encoder.pid is None and not _alive(first_pid)
    batch(2 * TRACES)  # a new process for the next busy write
    assert exporter._encoder.batches == 2 and exporter._encoder.pid not in (None, first_pid)
    provider.shutdown()
    names = {t["name"] for t in _traces(tmp_path)}
    assert names == {f"t{n}" for n in range(3 * TRACES)}, "a trace was lost with the process"


def test_an_encoder_process_that_does_not_answer_is_stopped_and_given_up_after_its_failures(tmp_path, monkeypatch):
    monkeypatch.setattr(_encoder, "BASE_DEADLINE_S", 0.5)
    mute = []

    def start_a_mute_process(self):  # reads nothing, answers nothing
        process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, start_new_session=True)
        os.set_blocking(process.stdin.fileno(), False)
        os.set_blocking(process.stdout.fileno(), False)
        self._process = process
        mute.append(process)
        return process

    monkeypatch.setattr(_encoder.EncoderProcess, "_start", start_a_mute_process)
    exporter = JsonFileSpanExporter(tmp_path, export_interval_s=3600)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("encoder-test")
    errors = _export_errors()
    for round_ in range(_encoder.MAX_FAILURES + 1):
        for n in range(TRACES):
            tracer.start_span(f"r{round_}-{n}").end()
        assert exporter.force_flush()
    provider.shutdown()

    assert len(mute) == _encoder.MAX_FAILURES, "started again after it was given up"
    assert all(process.poll() is not None for process in mute), "a mute process was left running"
    assert exporter._encoder.failures == _encoder.MAX_FAILURES and not exporter._encoder.usable
    assert _export_errors() == errors + _encoder.MAX_FAILURES
    assert len(_traces(tmp_path)) == min(exporter.max_traces, (_encoder.MAX_FAILURES + 1) * TRACES)


def test_a_forked_child_starts_its_own_encoder_process_and_leaves_its_parent_s_alone(tmp_path):
    exporter = JsonFileSpanExporter(tmp_path / "home", export_interval_s=3600)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("encoder-test")
    for n in range(TRACES):
        tracer.start_span(f"parent-{n}").end()
    assert exporter.force_flush()
    parent_helper = exporter._encoder.pid
    assert parent_helper is not None

    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            os.close(read_end)
            for n in range(TRACES):
                tracer.start_span(f"child-{n}").end()
            ok = exporter.force_flush()
            report = {"ok": ok, "helper": exporter._encoder.pid, "batches": exporter._encoder.batches}
            os.write(write_end, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        report = json.loads(pipe.read() or "{}")
    os.waitpid(child, 0)

    assert report["ok"] and report["batches"] == 1, report
    assert report["helper"] not in (None, parent_helper), "the child used its parent's encoder process"
    assert _alive(parent_helper), "the child's exit stopped its parent's encoder process"
    for n in range(TRACES):
        tracer.start_span(f"parent-again-{n}").end()
    assert exporter.force_flush()
    assert exporter._encoder.pid == parent_helper and exporter._encoder.batches == 2
    provider.shutdown()
    names = {t["name"].rsplit("-", 1)[0] for t in _traces(tmp_path / "home")}
    assert names == {"parent", "child", "parent-again"}


def test_the_encoder_process_ends_when_its_host_is_killed(tmp_path):
    host = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from monitoring_layer import JsonFileSpanExporter
        exporter = JsonFileSpanExporter({str(tmp_path)!r}, export_interval_s=3600)
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        for n in range({TRACES}):
            provider.get_tracer("t").start_span(f"t{{n}}").end()
        assert exporter.force_flush()
        print(exporter._encoder.pid, flush=True)
        sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    with host:
        helper = int(host.stdout.readline())
        assert _alive(helper)
        host.kill()  # no shutdown, no atexit: the helper sees its input close
    deadline = time.monotonic() + 30
    while _alive(helper) and time.monotonic() < deadline:
        time.sleep(0.05)  # waiting for another process to exit, not for an exporter
    assert not _alive(helper), "the encoder process outlived its host"


def test_the_setting_keeps_every_write_in_the_host(tmp_path, monkeypatch):
    monkeypatch.setenv("MONITORING_TRACES_ENCODER_PROCESS", "false")
    from monitoring_layer import testing

    testing.reset()
    exporter = JsonFileSpanExporter(tmp_path, export_interval_s=3600)
    _spans([exporter])
    assert exporter._encoder.batches == 0 and exporter._encoder.pid is None
    assert len(_traces(tmp_path)) == TRACES


def test_a_record_marshal_cannot_carry_is_encoded_in_the_host(tmp_path):
    exporter = JsonFileSpanExporter(tmp_path, export_interval_s=3600)
    pending = [("%032x" % n, (0, (n, 1, None, False, object(), "INTERNAL", 1, 2, "UNSET", None, None, (), (),
                                  None, "svc"))) for n in range(3)]
    errors = _export_errors()
    assert exporter._encoder.encode(10, pending) is None
    assert exporter._encoder.pid is None and exporter._encoder.failures == 0 and _export_errors() == errors + 1
    exporter.shutdown()


def test_under_an_embedding_server_every_write_stays_in_the_host(tmp_path, monkeypatch):
    # uWSGI sets sys.executable to its own binary: starting it as a Python would fail three times, or worse.
    monkeypatch.setattr(sys, "executable", "/usr/bin/uwsgi")
    errors = _export_errors()
    exporter = JsonFileSpanExporter(tmp_path, export_interval_s=3600)
    _spans([exporter])
    assert exporter._encoder.pid is None and exporter._encoder.batches == 0 and exporter._encoder.failures == 0
    assert _export_errors() == errors and len(_traces(tmp_path)) == TRACES


def test_the_process_answers_what_the_host_would_including_spans_over_a_trace_s_cap():
    # The writer adds the process's counts of spans over the cap to dropped{reason="max_spans_per_trace"}.
    from opentelemetry.sdk.trace.export import SpanExportResult

    from monitoring_layer._spanrec import record_of
    from monitoring_layer.exporters.traces import _new_trace

    ended = []

    class Keep:
        def export(self, spans):
            ended.extend(spans)
            return SpanExportResult.SUCCESS

        def shutdown(self):
            pass

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Keep()))
    tracer = provider.get_tracer("encoder-test")
    for n in range(4):
        with tracer.start_as_current_span(f"root-{n}", attributes={"n": n}):
            for k in range(n):
                tracer.start_span(f"child-{k}").end()
    by_trace = {}
    for span in ended:
        by_trace.setdefault(span.context.trace_id, []).append(record_of(span))
    jobs = [("%032x" % trace_id, (n, *records)) for n, (trace_id, records) in enumerate(by_trace.items())]
    process = _encoder.EncoderProcess()
    try:
        answered = process.encode(2, jobs)
    finally:
        process.close()
    assert answered == [_new_trace(trace_id, entry, 2) for trace_id, entry in jobs]
    assert [over for _, _, over in answered] == [0, 0, 1, 2]
    assert [json.loads(text)["dropped_spans"] for text, _, _ in answered] == [0, 1, 3, 5]
