"""What an instrumented confluent-kafka producer or consumer does around each call.

The hooks hold no reference to confluent_kafka: the instrumented subclasses
and the proxies (``kafka.py``) hand them the original bound method to call.

Producer (``ProducerHooks.produce``): a PRODUCER span ``send {topic}`` around
``produce()``, its W3C context injected into the message headers, and a
per-message delivery callback that counts ``kafka_messages_out{topic}`` on
success or ``kafka_delivery_failures{topic,error}`` on failure, then calls the
caller's callback (the per-message one, else the one given in the config,
which a per-message callback would otherwise replace).

Consumer (``ConsumerHooks``): each message ``poll()`` returns counts in
``kafka_messages_in{topic}`` and opens a CONSUMER span ``process {topic}``
whose parent is the context extracted from the message headers (so producer
and consumer share one trace); the span is current until the next ``poll()``,
``consume()``, ``commit()`` or ``close()``, which ends it and records the time
since the message arrived in ``kafka_processing_time_ms{topic}``. A
``consume()`` batch gets one span linked to every message's producer context.
``kafka_lag{topic,partition}`` is the high watermark minus the consumer's
position, for each assigned partition it has a position in, after every
``commit()`` and at most every ``lag_interval_s`` on ``poll()``/``consume()``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Link, SpanKind

from monitoring_layer.tracing import extract, inject

from ._common import Sink, contained, end_span, fault

__all__ = ["EXTRA_METRICS", "ConsumerHooks", "ProducerHooks"]

#: Beyond the spec's four Kafka names: deliveries that failed (by librdkafka error name).
EXTRA_METRICS = {
    "kafka_delivery_failures": ("counter", "Messages whose delivery to Kafka failed.", "{message}"),
}
#: Links a batch span carries at most (one per message with a context).
MAX_LINKS = 128
#: Seconds a cached-watermark miss may wait for the broker's answer.
WATERMARK_TIMEOUT_S = 1.0

_SYSTEM = {"messaging.system": "kafka"}
_Clock = Callable[[], float]


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, (bytes, bytearray, str)) else None


class ProducerHooks:
    """Instruments ``produce()`` of one producer."""

    def __init__(self, sink: Sink, *, on_delivery: Callable[..., Any] | None = None,
                 client_id: str | None = None) -> None:
        if on_delivery is not None and not callable(on_delivery):
            raise TypeError(f"on_delivery must be callable, not {type(on_delivery).__name__}")
        self.sink = sink
        self.config_on_delivery = on_delivery
        self._attributes: dict[str, Any] = dict(_SYSTEM, **{"messaging.operation.name": "send",
                                                            "messaging.operation.type": "send"})
        if client_id:
            self._attributes["messaging.client.id"] = str(client_id)

    def produce(self, call: Callable[..., Any], topic: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``call(topic, *args, **kwargs)`` (the original ``produce``), instrumented."""
        if not self.sink.active or len(args) > 3 or not isinstance(topic, str):
            # on_delivery or headers passed by position (rare): they are left exactly as given
            return call(topic, *args, **kwargs)
        span = None
        given = kwargs
        try:
            span, kwargs = self._prepare(topic, args, kwargs)
        except Exception as exc:  # noqa: BLE001
            fault(exc, "kafka produce")
            kwargs = given
        if span is None:
            return call(topic, *args, **kwargs)
        try:
            result = call(topic, *args, **kwargs)
        except BaseException as exc:
            with contained("kafka produce span"):
                end_span(span, exc)
            raise
        with contained("kafka produce span"):
            end_span(span, None)
        return result

    def _prepare(self, topic: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        kwargs = dict(kwargs)
        user_callback = kwargs.pop("on_delivery", None) or kwargs.pop("callback", None)
        kwargs.pop("callback", None)
        if user_callback is None:
            user_callback = self.config_on_delivery
        attributes = dict(self._attributes)
        attributes["messaging.destination.name"] = topic
        partition = args[2] if len(args) > 2 else kwargs.get("partition")
        if isinstance(partition, int) and partition >= 0:
            attributes["messaging.destination.partition.id"] = str(partition)
        size = _size(args[0] if args else kwargs.get("value"))
        if size is not None:
            attributes["messaging.message.body.size"] = size
        span = self.sink.tracer().start_span(f"send {topic}", kind=SpanKind.PRODUCER, attributes=attributes)
        headers = kwargs.get("headers")
        carrier: Any = dict(headers) if isinstance(headers, Mapping) else list(headers or ())
        inject(carrier, otel_trace.set_span_in_context(span))
        kwargs["headers"] = carrier
        kwargs["on_delivery"] = self._delivery_report(topic, user_callback)
        return span, kwargs

    def _delivery_report(self, topic: str, user_callback: Callable[..., Any] | None) -> Callable[[Any, Any], None]:
        sink = self.sink
        ok_labels = {"topic": topic}

        def report(err: Any, msg: Any) -> None:
            if sink.active:
                try:
                    if err is None:
                        sink.metrics().increment_counter("kafka_messages_out", 1, ok_labels)
                    else:
                        name = err.name() if hasattr(err, "name") else type(err).__name__
                        sink.metrics().increment_counter("kafka_delivery_failures", 1,
                                                         {"topic": topic, "error": str(name)})
                except Exception as exc:  # noqa: BLE001
                    fault(exc, "kafka delivery report")
            if user_callback is not None:
                user_callback(err, msg)  # its exceptions reach poll()/flush() as without us

        return report


class ConsumerHooks:
    """Instruments ``poll``/``consume``/``commit``/``close`` of one consumer (used by one thread at a time,
    as librdkafka's consumer is)."""

    def __init__(self, sink: Sink, *, group_id: str | None = None, client_id: str | None = None,
                 lag_interval_s: float = 10.0, clock: _Clock = time.monotonic) -> None:
        if not isinstance(lag_interval_s, (int, float)) or lag_interval_s < 0:
            raise ValueError(f"lag_interval_s must be a number >= 0, not {lag_interval_s!r}")
        self.sink = sink
        self.lag_interval_s = float(lag_interval_s)
        self._clock = clock
        self._attributes: dict[str, Any] = dict(_SYSTEM, **{"messaging.operation.name": "process",
                                                            "messaging.operation.type": "process"})
        if group_id:
            self._attributes["messaging.consumer.group.name"] = str(group_id)
        if client_id:
            self._attributes["messaging.client.id"] = str(client_id)
        # the message being processed: its span, the context token, when it arrived, its topics
        self._span: Any = None
        self._token: Any = None
        self._thread: int | None = None
        self._arrived: float | None = None
        self._topics: tuple[str, ...] = ()
        self._next_lag = 0.0

    # -- around the calls --------------------------------------------------------------

    def before(self) -> None:
        """Before ``poll``/``consume``/``commit``/``close``: the previous message's processing ended."""
        if self._arrived is None:
            return
        with contained("kafka processing"):
            self._finish()

    def polled(self, consumer: Any, message: Any) -> None:
        """After ``poll()`` returned ``message`` (or None)."""
        if not self.sink.active:
            return
        with contained("kafka poll"):
            if message is not None and message.error() is None:
                self._received([message])
            self._maybe_lag(consumer)

    def consumed(self, consumer: Any, messages: Sequence[Any] | None) -> None:
        """After ``consume()`` returned ``messages``."""
        if not self.sink.active:
            return
        with contained("kafka consume"):
            good = [m for m in messages or () if m is not None and m.error() is None]
            if good:
                self._received(good)
            self._maybe_lag(consumer)

    def committed(self, consumer: Any) -> None:
        """After ``commit()`` returned: the lag is read now."""
        if not self.sink.active:
            return
        with contained("kafka lag"):
            self.update_lag(consumer)

    # -- the work ----------------------------------------------------------------------

    def _received(self, messages: list[Any]) -> None:
        metrics = self.sink.metrics()
        topics: dict[str, None] = {}
        for message in messages:
            topic = message.topic()
            topics[topic] = None
            metrics.increment_counter("kafka_messages_in", 1, {"topic": topic})
        self._topics = tuple(topics)
        attributes = dict(self._attributes)
        name_topic = self._topics[0] if len(self._topics) == 1 else "multiple"
        if len(self._topics) == 1:
            attributes["messaging.destination.name"] = name_topic
        if len(messages) == 1:
            message = messages[0]
            parent = extract(message.headers() or [])
            attributes["messaging.destination.partition.id"] = str(message.partition())
            attributes["messaging.kafka.offset"] = message.offset()
            size = _size(message.value())
            if size is not None:
                attributes["messaging.message.body.size"] = size
            links: list[Link] = []
        else:
            parent = otel_context.get_current()
            attributes["messaging.batch.message_count"] = len(messages)
            links = []
            for message in messages:
                linked = otel_trace.get_current_span(extract(message.headers() or [])).get_span_context()
                if linked.is_valid and len(links) < MAX_LINKS:
                    links.append(Link(linked))
        span = self.sink.tracer().start_span(f"process {name_topic}", context=parent, kind=SpanKind.CONSUMER,
                                             attributes=attributes, links=links)
        self._span = span
        self._arrived = self._clock()
        # current while the application processes the message, so its own spans become children
        self._token = otel_context.attach(otel_trace.set_span_in_context(span))
        self._thread = threading.get_ident()

    def _finish(self) -> None:
        arrived, span, token, thread = self._arrived, self._span, self._token, self._thread
        self._arrived = self._span = self._token = self._thread = None
        if arrived is None:
            return
        if token is not None and thread == threading.get_ident():
            otel_context.detach(token)
        if span is not None:
            end_span(span, None)
        if self.sink.active:
            elapsed_ms = max(0.0, (self._clock() - arrived) * 1000.0)
            metrics = self.sink.metrics()
            for topic in self._topics:
                metrics.observe_histogram("kafka_processing_time_ms", elapsed_ms, {"topic": topic})

    def _maybe_lag(self, consumer: Any) -> None:
        now = self._clock()
        if now >= self._next_lag:
            self._next_lag = now + self.lag_interval_s
            self.update_lag(consumer)

    def update_lag(self, consumer: Any) -> None:
        """Set ``kafka_lag{topic,partition}`` for every assigned partition the consumer has a position in."""
        assignment = consumer.assignment()
        if not assignment:
            return
        metrics = self.sink.metrics()
        for tp in consumer.position(assignment):
            if tp.offset < 0:  # nothing fetched from it yet: no position to measure from
                continue
            _low, high = consumer.get_watermark_offsets(tp, cached=True)
            if high < 0:  # not cached yet: ask the partition's leader
                _low, high = consumer.get_watermark_offsets(tp, timeout=WATERMARK_TIMEOUT_S)
            if high >= 0:
                metrics.set_gauge("kafka_lag", max(0, high - tp.offset),
                                  {"topic": tp.topic, "partition": str(tp.partition)})
