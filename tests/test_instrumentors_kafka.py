"""KafkaInstrumentor on librdkafka's own mock cluster (``test.mock.num.brokers``): real producer, consumer
group, offsets and watermarks, on loopback, started and stopped by each test."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from monitoring_layer import _selfmon, config
from monitoring_layer.metrics import MetricsCollector

from _requires import require

try:
    import confluent_kafka

    from monitoring_layer.instrumentors import KafkaInstrumentor
except ImportError:  # the kafka extra is missing: every test skips (fails under CI=true)
    confluent_kafka = KafkaInstrumentor = None

pytestmark = pytest.mark.integration

ORIGINAL_PRODUCER = getattr(confluent_kafka, "Producer", None)
ORIGINAL_CONSUMER = getattr(confluent_kafka, "Consumer", None)
TOPIC = "orders"


@pytest.fixture(autouse=True)
def _kafka_extra():
    require("confluent_kafka", "the kafka extra (pip install 'monitoring-layer[kafka]')")
    require("opentelemetry.instrumentation", "the instrument extra")


@pytest.fixture
def brokers():
    """Bootstrap address of a one-broker mock cluster, alive for the test."""
    handle = ORIGINAL_PRODUCER({"test.mock.num.brokers": 1, "log_level": 3})
    metadata = handle.list_topics(timeout=10)
    yield ",".join(f"{b.host}:{b.port}" for b in metadata.brokers.values())
    del handle  # destroying the handle stops the mock cluster


@pytest.fixture
def spans(pipeline):
    exporter = InMemorySpanExporter()
    pipeline.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def metrics(pipeline):
    return MetricsCollector(pipeline=pipeline)


@pytest.fixture
def instrumented(pipeline, metrics, spans):
    instrumentor = KafkaInstrumentor()
    instrumentor.instrument(metrics_collector=metrics, tracer_provider=pipeline.tracer_provider)
    yield instrumentor
    instrumentor.uninstrument()


def _total(metrics, name, **labels):
    try:
        return metrics.get_metric_statistics(name, labels or None)["total"]
    except KeyError:
        return 0


def _lag_by_partition(metrics):
    entry = metrics.export_metrics()["metrics"]["kafka_lag"]
    return {s["labels"]["partition"]: s["value"] for s in entry["series"] if s["labels"]["topic"] == TOPIC}


def test_produce_1000_consume_600_commit(brokers, instrumented, metrics, spans):
    assert confluent_kafka.Producer is not ORIGINAL_PRODUCER
    producer = confluent_kafka.Producer({"bootstrap.servers": brokers, "log_level": 3})
    delivered = []
    for i in range(1000):
        # two partitions: the mock cluster cannot create topics through the admin API (it has no
        # CreateTopics handler) and auto-creates four, so the messages go to partitions 0 and 1 only
        producer.produce(TOPIC, value=b"order-%d" % i, partition=i % 2,
                         on_delivery=lambda err, msg: delivered.append(err))
    assert producer.flush(30) == 0
    assert len(delivered) == 1000 and set(delivered) == {None}
    assert _total(metrics, "kafka_messages_out") == 1000
    assert _total(metrics, "kafka_messages_out", topic=TOPIC) == 1000

    consumer = confluent_kafka.Consumer({"bootstrap.servers": brokers, "group.id": "billing", "log_level": 3,
                                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([TOPIC])
    received = []
    while len(received) < 600:
        message = consumer.poll(10)
        assert message is not None, "the mock cluster sent nothing for 10 s"
        assert message.error() is None, message.error()
        received.append(message)
    consumer.commit(asynchronous=False)

    assert _total(metrics, "kafka_messages_in") == 600
    assert metrics.get_metric_statistics("kafka_processing_time_ms")["total_count"] == 600
    lag = _lag_by_partition(metrics)
    assert sum(lag.values()) == 400, lag
    consumer.close()

    finished = spans.get_finished_spans()
    producers = {s.context.span_id: s for s in finished if s.kind is SpanKind.PRODUCER}
    consumers = [s for s in finished if s.kind is SpanKind.CONSUMER]
    assert len(producers) == 1000 and len(consumers) == 600
    for span in consumers:
        parent = producers[span.parent.span_id]  # the producer span of that very message
        assert span.context.trace_id == parent.context.trace_id
        assert span.name == f"process {TOPIC}" and span.attributes["messaging.system"] == "kafka"
        assert span.attributes["messaging.destination.name"] == TOPIC
        assert span.attributes["messaging.consumer.group.name"] == "billing"
    first = producers[consumers[0].parent.span_id]
    assert first.name == f"send {TOPIC}" and first.attributes["messaging.operation.type"] == "send"


def test_consumed_message_span_is_current_while_processing(brokers, instrumented, pipeline, spans):
    producer = confluent_kafka.Producer({"bootstrap.servers": brokers, "log_level": 3})
    producer.produce(TOPIC, value=b"x", headers={"app": "v"})
    producer.flush(30)
    consumer = confluent_kafka.Consumer({"bootstrap.servers": brokers, "group.id": "g", "log_level": 3,
                                         "auto.offset.reset": "earliest"})
    consumer.subscribe([TOPIC])
    message = consumer.poll(10)
    assert message is not None and message.error() is None
    # the caller's own header is kept beside the W3C context
    headers = dict(message.headers())
    assert headers["app"] == b"v" and "traceparent" in headers
    with pipeline.tracer_provider.get_tracer("app").start_as_current_span("handle"):
        pass
    consumer.close()
    handle = next(s for s in spans.get_finished_spans() if s.name == "handle")
    process = next(s for s in spans.get_finished_spans() if s.kind is SpanKind.CONSUMER)
    assert handle.parent.span_id == process.context.span_id


def test_delivery_failures_are_counted_apart_and_callbacks_still_run(instrumented, metrics):
    calls = []
    # nothing listens on port 1: every message times out
    producer = confluent_kafka.Producer({"bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": 200,
                                         "log_level": 0, "on_delivery": lambda err, msg: calls.append(err)})
    producer.produce(TOPIC, b"a")
    producer.produce(TOPIC, b"b")
    assert producer.flush(30) == 0
    assert len(calls) == 2 and all(err is not None for err in calls)  # the configured callback, kept
    assert _total(metrics, "kafka_messages_out") == 0
    assert _total(metrics, "kafka_delivery_failures", topic=TOPIC, error="_MSG_TIMED_OUT") == 2


def test_callback_exception_and_produce_exception_unchanged(instrumented, spans):
    producer = confluent_kafka.Producer({"bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": 200,
                                         "log_level": 0, "queue.buffering.max.messages": 1})
    boom = RuntimeError("callback boom")

    def callback(err, msg):
        raise boom

    producer.produce(TOPIC, b"a", on_delivery=callback)
    with pytest.raises(BufferError):  # the queue holds one message
        producer.produce(TOPIC, b"b")
    with pytest.raises(RuntimeError) as raised:
        producer.flush(30)
    assert raised.value is boom
    failed = [s for s in spans.get_finished_spans() if s.status.status_code is StatusCode.ERROR]
    assert len(failed) == 1 and failed[0].attributes["error.type"] == "BufferError"


def test_a_fault_of_ours_is_contained_and_counted(monkeypatch, pipeline):
    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()

    class Broken(MetricsCollector):
        def increment_counter(self, *args, **kwargs):
            raise RuntimeError("collector down")

    instrumentor = KafkaInstrumentor()
    instrumentor.instrument(metrics_collector=Broken(pipeline=pipeline), tracer_provider=pipeline.tracer_provider)
    try:
        calls = []
        producer = confluent_kafka.Producer({"bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": 100,
                                             "log_level": 0})
        assert producer.produce(TOPIC, b"a", on_delivery=lambda err, msg: calls.append(err)) is None
        assert producer.flush(30) == 0
        assert len(calls) == 1  # our callback failed to count; the caller's still ran
        assert _selfmon.counts()["errors"]["instrumentation"] >= 1
    finally:
        instrumentor.uninstrument()


def test_uninstrument_restores_the_types_and_silences_existing_objects(metrics, pipeline):
    instrumentor = KafkaInstrumentor()
    instrumentor.instrument(metrics_collector=metrics, tracer_provider=pipeline.tracer_provider)
    producer = confluent_kafka.Producer({"bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": 100,
                                         "log_level": 0})
    instrumentor.uninstrument()
    assert confluent_kafka.Producer is ORIGINAL_PRODUCER and confluent_kafka.Consumer is ORIGINAL_CONSUMER
    producer.produce(TOPIC, b"a")
    producer.flush(30)
    assert _total(metrics, "kafka_delivery_failures") == 0


def test_instrument_an_existing_producer_and_consumer(brokers, metrics, pipeline, spans):
    producer = ORIGINAL_PRODUCER({"bootstrap.servers": brokers, "log_level": 3})
    consumer = ORIGINAL_CONSUMER({"bootstrap.servers": brokers, "group.id": "late", "log_level": 3,
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    instrumentor = KafkaInstrumentor()
    producer = instrumentor.instrument_producer(producer, metrics_collector=metrics,
                                                tracer_provider=pipeline.tracer_provider)
    consumer = instrumentor.instrument_consumer(consumer, group_id="late", metrics_collector=metrics,
                                                tracer_provider=pipeline.tracer_provider)
    for i in range(10):
        producer.produce(TOPIC, value=b"%d" % i, partition=0)
    assert producer.flush(30) == 0 and len(producer) == 0  # len() reaches the wrapped producer
    consumer.subscribe([TOPIC])
    batch = []
    while len(batch) < 10:
        batch += consumer.consume(num_messages=10 - len(batch), timeout=10)
    consumer.commit(asynchronous=False)
    consumer.close()
    assert _total(metrics, "kafka_messages_out") == 10 and _total(metrics, "kafka_messages_in") == 10
    assert _lag_by_partition(metrics)["0"] == 0
    batch_spans = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CONSUMER]
    assert batch_spans and sum(len(s.links) for s in batch_spans) == 10
