"""The inbox in front of the trace store, the log store and the JSON files' buffers: no lock per item,
nothing lost, every drop counted, and many recording threads at once."""

from __future__ import annotations

import json
import threading

from collections import deque

import pytest
from opentelemetry._logs import LogRecord, SeverityNumber

from monitoring_layer import _inbox, _selfmon, config, testing
from monitoring_layer._inbox import Inbox
from monitoring_layer.logging import LogAggregator
from monitoring_layer.tracing import TracingCollector


def _drops(signal, reason):
    return _selfmon.counts()["dropped"].get((signal, reason), 0)


def test_items_are_applied_in_batches_in_the_order_filed():
    batches = []
    inbox = Inbox(batches.append, "traces", drain_at=3, wait_at=10)
    for i in range(7):
        inbox.put(i)
    assert batches == [[0, 1, 2], [3, 4, 5]] and len(inbox) == 1  # the seventh waits for the next batch
    with inbox.lock:
        inbox.drain()
    assert batches[-1] == [6] and len(inbox) == 0


def test_a_put_does_not_wait_for_a_lock_another_thread_holds():
    applied = []
    inbox = Inbox(applied.extend, "traces", drain_at=2, wait_at=1_000)
    done = threading.Event()

    def record():
        for i in range(100):
            inbox.put(i)
        done.set()

    with inbox.lock:  # a reader, or another thread applying a batch
        thread = threading.Thread(target=record)
        thread.start()
        assert done.wait(10), "a put blocked on the held lock"
        assert applied == [] and len(inbox) == 100
    thread.join()
    inbox.put(100)  # the next put past drain_at finds the lock free and applies everything, in order
    assert applied == list(range(101))


def test_a_fault_out_of_apply_loses_that_batch_only_counted_and_never_reaches_a_put(monkeypatch):
    monkeypatch.setenv("MONITORING_STRICT", "0")  # contained, as in production
    config._reset_for_tests()
    applied = []

    def apply(items):
        if 4 in items:
            raise RuntimeError("a bug in the store")
        applied.extend(items)

    inbox = Inbox(apply, "traces", fault_kind="tracing", drain_at=3, wait_at=10)
    for i in range(9):
        inbox.put(i)  # the put that applies the failing batch returns as the others do
    assert applied == [0, 1, 2, 6, 7, 8] and len(inbox) == 0
    assert _drops("traces", "batch_fault") == 3
    assert _selfmon.counts()["errors"]["tracing"] == 1


def test_a_fault_out_of_apply_is_raised_under_strict():
    def apply(items):
        raise RuntimeError("a bug in the store")

    inbox = Inbox(apply, "logs", fault_kind="logs_store", drain_at=2, wait_at=10)
    inbox.put(0)
    with pytest.raises(RuntimeError, match="a bug in the store"):
        inbox.put(1)
    assert _drops("logs", "batch_fault") == 2


def test_past_its_bound_a_put_waits_then_drops_and_counts(monkeypatch):
    monkeypatch.setattr(_inbox, "WAIT_S", 0.05)
    applied = []
    inbox = Inbox(applied.extend, "logs", drain_at=2, wait_at=4)
    with inbox.lock:  # held for good: the thread holding it was interrupted by a signal
        for i in range(10):
            inbox.put(i)
        assert len(inbox) == 3  # the bound, less the item each waiting put dropped
        assert _drops("logs", "queue_full") == 7
    inbox.put(10)
    assert applied == [0, 1, 2, 10]


def test_a_drop_at_the_other_end_while_a_batch_is_taken_loses_only_the_dropped_item():
    # A put past its bound drops the newest item without the lock; a drain that counted the items
    # just before must apply those left, not fail and lose the ones it had already taken.
    class Racing(deque):
        def popleft(self):
            if len(self) == 5:
                self.pop()  # the other thread's drop, between the drain's count and its pops
            return super().popleft()

    applied = []
    inbox = Inbox(applied.extend, "logs", drain_at=100, wait_at=200)
    inbox._items = Racing(range(5))
    with inbox.lock:
        inbox.drain()
    assert applied == [0, 1, 2, 3] and len(inbox) == 0


@pytest.mark.parametrize("kwargs, name", [({"drain_at": 0}, "drain_at"), ({"drain_at": 5, "wait_at": 4}, "drain_at")])
def test_bad_bounds_are_refused(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Inbox(list, "traces", **kwargs)


def test_a_signal_without_a_drop_count_is_refused():
    with pytest.raises(ValueError, match="signal"):
        Inbox(list, "nothing")
    with pytest.raises(ValueError, match="fault_kind"):
        Inbox(list, "traces", fault_kind="nothing")


def test_many_threads_lose_nothing_and_count_every_drop(home):
    # Eight threads record at once, past the stores' and files' bounds: every trace and record is
    # in memory and in the files, or counted by their bounds, and nothing by a queue.
    threads, per_thread, cap = 8, 1_500, 10_000
    total = threads * per_thread
    with testing.isolated_pipeline(home, install=False, traces_max_traces=cap, logs_max_records=cap,
                                   logs_memory_max_records=cap) as pipeline:
        store = TracingCollector(pipeline.tracer_provider, settings=pipeline.settings).store
        logs = LogAggregator(pipeline.logger_provider, settings=pipeline.settings)
        tracer = pipeline.tracer_provider.get_tracer("threads")
        logger = pipeline.logger_provider.get_logger("threads")
        go = threading.Barrier(threads)

        def record(n):
            go.wait()
            for i in range(per_thread):
                with tracer.start_as_current_span(f"t{n}-{i}"):
                    tracer.start_span("child").end()
                logger.emit(LogRecord(body=f"t{n}-{i}", severity_number=SeverityNumber.INFO))

        workers = [threading.Thread(target=record, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        rows, active = store.summaries()
        stats = logs.get_log_statistics()
        assert pipeline.flush()
        traces = json.loads((home / "traces/traces.json").read_text())["traces"]
        records = json.loads((home / "logs/logs.json").read_text())["records"]
    assert _drops("traces", "queue_full") == 0 and _drops("logs", "queue_full") == 0
    # in memory
    assert len(rows) == cap and active == 0
    assert all(complete for _root, complete, *_ in rows)
    assert _drops("traces", "memory_max_traces") == total - cap
    assert stats["total"] == total and stats["in_memory"] == cap
    assert _drops("logs", "memory_evicted") == total - cap
    # in the files: every kept trace whole (root and child), the rest counted
    assert len(traces) == cap and all(t["span_count"] == 2 and t["complete"] for t in traces)
    assert _drops("traces", "retention_count") == total - cap
    assert _drops("spans", "retention_count") == 2 * (total - cap)
    assert len(records) == cap and _drops("logs", "retention_count") == total - cap
    # the newest of each thread are among those kept
    names = {t["name"] for t in traces}
    assert all(f"t{n}-{per_thread - 1}" in names for n in range(threads))


def test_a_query_sees_every_span_and_record_filed_before_it(pipeline):
    # Fewer items than a batch: they wait in the inboxes, and a read applies them first.
    traces = TracingCollector(pipeline.tracer_provider, settings=pipeline.settings)
    logs = LogAggregator(pipeline.logger_provider, settings=pipeline.settings)
    trace_id = traces.start_trace("checkout", "api")
    span = traces.start_span("charge", "payments", trace_id=trace_id)
    traces.end_span(span)
    traces.end_trace(trace_id)
    logs.info("api", "charged")
    assert 0 < len(traces.store._inbox) < _inbox.DRAIN_AT
    assert sorted(s["operation_name"] for s in traces.get_trace(trace_id)["spans"]) == ["charge", "checkout"]
    assert [r["message"] for r in logs.get_logs()] == ["charged"]


def test_the_writer_sees_spans_still_waiting_in_the_inbox(home):
    # A span filed after a write stays in the inbox (fewer than a batch) and leaves the buffer
    # unchanged: the writer thread must still find news, or it would wait for the next flush.
    from opentelemetry.sdk.trace import TracerProvider

    from monitoring_layer.exporters import JsonFileSpanExporter, SpanFileFeed

    exporter = JsonFileSpanExporter(home, export_interval_s=3600)
    provider = TracerProvider()
    provider.add_span_processor(SpanFileFeed(exporter))
    tracer = provider.get_tracer("news")
    try:
        tracer.start_span("first").end()
        assert exporter.write_now() and not exporter._has_news()
        tracer.start_span("second").end()
        assert not exporter._dirty and len(exporter._inbox) == 1
        assert exporter._has_news()
        assert exporter.write_now() and not exporter._has_news()
        names = {t["name"] for t in json.loads((home / "traces/traces.json").read_text())["traces"]}
        assert names == {"first", "second"}
    finally:
        provider.shutdown()


def test_an_owner_thread_is_told_once_per_batch_and_the_recorders_leave_the_lock_alone():
    told = []
    applied = []
    inbox = Inbox(applied.extend, "traces", drain_at=8, wait_at=16, notify=lambda: told.append(len(inbox)),
                  notify_at=3)
    for i in range(7):
        inbox.put(i)
    assert told == [3] and applied == []  # told once; below drain_at no put applies anything
    with inbox.lock:  # the owner's thread
        inbox.drain()
    for i in range(7, 10):
        inbox.put(i)
    assert told == [3, 3] and applied == list(range(7))
    for i in range(10, 15):
        inbox.put(i)  # the owner fell behind: the put that reaches drain_at applies them
    assert applied == list(range(15))


def test_notify_at_must_come_before_drain_at():
    with pytest.raises(ValueError, match="notify_at"):
        Inbox(list, "traces", drain_at=8, notify=lambda: None, notify_at=8)


class _WatchedLock:
    """A lock that remembers which threads took it."""

    def __init__(self):
        self._lock = threading.Lock()
        self.takers = set()

    def acquire(self, blocking=True, timeout=-1):
        got = self._lock.acquire(blocking, timeout)
        if got:
            self.takers.add(threading.get_ident())
        return got

    def release(self):
        self._lock.release()

    __enter__ = acquire

    def __exit__(self, *exc):
        self.release()


def test_the_main_thread_files_spans_without_taking_the_files_lock(home):
    # A SIGTERM handler runs in the main thread and flushes: it must not find the file's buffer
    # lock held by the thread it interrupted. Spans recorded there only wake the writer thread.
    from opentelemetry.sdk.trace import TracerProvider

    from monitoring_layer.exporters import JsonFileSpanExporter, SpanFileFeed

    exporter = JsonFileSpanExporter(home, export_interval_s=3600)
    watched = _WatchedLock()
    exporter._inbox.lock = exporter._buffer_lock = watched
    provider = TracerProvider()
    provider.add_span_processor(SpanFileFeed(exporter))
    tracer = provider.get_tracer("main")
    try:
        for i in range(_inbox.DRAIN_AT * 3):
            tracer.start_span(f"s{i}").end()
        assert threading.get_ident() not in watched.takers
        assert exporter._wake.is_set() or watched.takers  # the writer was told (and may have run already)
        assert exporter.write_now()
        traces = json.loads((home / "traces/traces.json").read_text())["traces"]
        assert len(traces) == _inbox.DRAIN_AT * 3
    finally:
        provider.shutdown()
