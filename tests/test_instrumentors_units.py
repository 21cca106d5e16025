"""Our own logic in the instrumentors, on fakes of the libraries (the integration tests use the real ones)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from _recorders import FakeMetrics
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import monitoring_layer
from monitoring_layer import _lifecycle, _selfmon
from monitoring_layer.instrumentors import _spark_jobs
from monitoring_layer.instrumentors._common import Sink
from monitoring_layer.instrumentors._kafka_hooks import EXTRA_METRICS, ConsumerHooks
from monitoring_layer.instrumentors._spark_jobs import Finished, JobLedger
from monitoring_layer.tracing import inject

# -- Spark: the job ledger ------------------------------------------------------------------------


class FakeTracker:
    """Spark's StatusTracker surface the ledger uses: jobs by id, stages by id."""

    def __init__(self) -> None:
        self.jobs: dict[int, SimpleNamespace] = {}
        self.stages: dict[int, SimpleNamespace] = {}

    def add(self, job_id, status, stage_tasks, group=None):
        stage_ids = []
        for tasks in stage_tasks:
            stage_id = len(self.stages)
            self.stages[stage_id] = SimpleNamespace(numCompletedTasks=tasks)
            stage_ids.append(stage_id)
        self.jobs[job_id] = SimpleNamespace(status=status, stageIds=stage_ids, group=group)

    def getJobIdsForGroup(self, group):  # noqa: N802 - Spark's name
        return [j for j, info in self.jobs.items() if info.group == group]

    def getActiveJobsIds(self):  # noqa: N802
        return [j for j, info in self.jobs.items() if info.status == "RUNNING"]

    def getJobInfo(self, job_id):  # noqa: N802
        return self.jobs.get(job_id)

    def getStageInfo(self, stage_id):  # noqa: N802
        return self.stages.get(stage_id)


@pytest.fixture
def tracker():
    return FakeTracker()


@pytest.fixture
def ledger(tracker):
    return JobLedger(SimpleNamespace(statusTracker=lambda: tracker))


def test_jobs_before_the_first_action_are_not_counted(tracker, ledger):
    tracker.add(0, "SUCCEEDED", [2])
    tracker.add(1, "SUCCEEDED", [1], group="nightly")  # not in the no-group list: found by walking on
    assert ledger.settle() == []  # no cursor yet
    assert ledger.start() == 2 and ledger.start() == 2
    tracker.add(2, "SUCCEEDED", [3, 0])  # a skipped stage has no completed task
    tracker.add(3, "RUNNING", [4])
    assert ledger.settle() == [Finished(2, "SUCCEEDED", 3)]
    assert ledger.settle() == []  # each job once; job 3 still runs
    tracker.jobs[3].status = "FAILED"
    assert ledger.settle() == [Finished(3, "FAILED", 4)]


def test_a_job_evicted_before_it_ended_is_dropped_and_counted(tracker, ledger):
    ledger.start()
    tracker.add(0, "RUNNING", [1])
    assert ledger.settle() == []
    del tracker.jobs[0]
    assert ledger.settle() == [] and ledger.pending == {}
    assert _selfmon.counts()["dropped"][("spark", "job_evicted")] == 1


def test_pending_jobs_are_bounded(tracker, ledger, monkeypatch):
    monkeypatch.setattr(_spark_jobs, "MAX_PENDING", 2)
    ledger.start()
    for job_id in range(5):
        tracker.add(job_id, "RUNNING", [1])
    ledger.settle()
    assert list(ledger.pending) == [3, 4]
    assert _selfmon.counts()["dropped"][("spark", "pending_jobs")] == 3


# -- Kafka: the consumer hooks ----------------------------------------------------------------------


class FakeMessage:
    def __init__(self, topic="t", partition=0, offset=0, headers=None):
        self._topic, self._partition, self._offset, self._headers = topic, partition, offset, headers

    def topic(self):
        return self._topic

    def partition(self):
        return self._partition

    def offset(self):
        return self._offset

    def value(self):
        return b"v"

    def headers(self):
        return self._headers

    def error(self):
        return None


class FakeConsumer:
    """assignment/position/get_watermark_offsets: one partition at position 7 of 10."""

    def __init__(self):
        self.lag_reads = 0
        self.tp = SimpleNamespace(topic="t", partition=0, offset=7)

    def assignment(self):
        return [self.tp]

    def position(self, partitions):
        self.lag_reads += 1
        return partitions

    def get_watermark_offsets(self, tp, cached=False, timeout=None):
        return (0, 10)


@pytest.fixture
def clock():
    now = [100.0]
    tick = lambda: now[0]  # noqa: E731
    tick.now = now
    return tick


@pytest.fixture
def hooks(clock):
    metrics = FakeMetrics()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sink = Sink("kafka", "test", metrics, provider, extra=EXTRA_METRICS)
    made = ConsumerHooks(sink, group_id="g", lag_interval_s=5.0, clock=clock)
    made.metrics, made.exporter = metrics, exporter
    return made


def test_processing_time_runs_from_the_message_to_the_next_call(hooks, clock):
    consumer = FakeConsumer()
    hooks.before()
    hooks.polled(consumer, FakeMessage(offset=3))
    clock.now[0] += 0.25
    hooks.before()  # the next poll
    assert hooks.metrics.values("kafka_processing_time_ms", topic="t") == [250.0]
    assert hooks.metrics.total("kafka_messages_in", topic="t") == 1
    (span,) = hooks.exporter.get_finished_spans()
    assert span.attributes["messaging.kafka.offset"] == 3
    assert span.attributes["messaging.consumer.group.name"] == "g"
    hooks.before()  # nothing in flight: nothing recorded twice
    assert len(hooks.metrics.values("kafka_processing_time_ms")) == 1


def test_lag_is_read_at_most_every_interval_on_poll_and_always_on_commit(hooks, clock):
    consumer = FakeConsumer()
    hooks.polled(consumer, None)
    hooks.polled(consumer, None)
    assert consumer.lag_reads == 1
    clock.now[0] += 5.0
    hooks.polled(consumer, None)
    assert consumer.lag_reads == 2
    hooks.committed(consumer)
    assert consumer.lag_reads == 3
    assert hooks.metrics.values("kafka_lag", topic="t", partition="0") == [3, 3, 3]


def test_a_batch_gets_one_span_with_links_and_bad_arguments_are_refused(hooks):
    sink = hooks.sink
    producer = TracerProvider().get_tracer("p")
    headers = []
    for _ in range(3):
        with producer.start_as_current_span("send"):
            headers.append(inject([]))
    hooks.consumed(FakeConsumer(), [FakeMessage(offset=i, headers=h) for i, h in enumerate(headers)])
    hooks.before()
    (span,) = hooks.exporter.get_finished_spans()
    assert len(span.links) == 3 and span.attributes["messaging.batch.message_count"] == 3
    with pytest.raises(ValueError, match="lag_interval_s"):
        ConsumerHooks(sink, lag_interval_s=-1)
    with pytest.raises(TypeError, match="metrics_collector"):
        Sink("kafka", "test", metrics_collector=object())
    with pytest.raises(TypeError, match="tracer_provider"):
        Sink("kafka", "test", tracer_provider=object())


def test_flush_runs_the_lifecycle_hooks_before_and_after_the_export():
    calls = []
    unregister = _lifecycle.register("test", before_flush=lambda: calls.append("before"),
                                     flush=lambda: calls.append("after"))
    try:
        assert monitoring_layer.flush()
    finally:
        unregister()
    assert calls == ["before", "after"]
