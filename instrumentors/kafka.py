"""``KafkaInstrumentor``: metrics and spans for confluent-kafka producers and consumers.

``confluent_kafka.Producer`` and ``Consumer`` are C types whose methods cannot
be replaced, so ``instrument()`` replaces the module attributes with
subclasses (``confluent_kafka.Producer = InstrumentedProducer``) and
``uninstrument()`` puts the originals back. Code that did
``from confluent_kafka import Producer`` before ``instrument()``, objects built
before it, and ``SerializingProducer``/``DeserializingConsumer`` (built on the
C types directly) are wrapped explicitly::

    producer = KafkaInstrumentor().instrument_producer(producer)
    consumer = KafkaInstrumentor().instrument_consumer(consumer)

What is recorded, and the span conventions: see ``_kafka_hooks``.
Nothing here imports confluent_kafka until ``instrument()`` runs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from ._common import Sink
from ._kafka_hooks import EXTRA_METRICS, ConsumerHooks, ProducerHooks

__all__ = ["KafkaInstrumentor"]

_SCOPE = "monitoring_layer.instrumentors.kafka"


def _config(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration a Producer/Consumer was built with (a dict argument and/or keywords)."""
    config: dict[str, Any] = {}
    if args and isinstance(args[0], Mapping):
        config.update(args[0])
    config.update(kwargs)
    return config


class _ProducerProxy:
    """An existing producer, with ``produce()`` instrumented and everything else forwarded."""

    def __init__(self, producer: Any, hooks: ProducerHooks) -> None:
        self._producer = producer
        self._ml_hooks = hooks

    def produce(self, topic: Any, *args: Any, **kwargs: Any) -> Any:
        return self._ml_hooks.produce(self._producer.produce, topic, args, kwargs)

    def __len__(self) -> int:
        return len(self._producer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)

    def __repr__(self) -> str:
        return f"<instrumented {self._producer!r}>"


class _ConsumerProxy:
    """An existing consumer, with ``poll``/``consume``/``commit``/``close`` instrumented."""

    def __init__(self, consumer: Any, hooks: ConsumerHooks) -> None:
        self._consumer = consumer
        self._ml_hooks = hooks

    def poll(self, *args: Any, **kwargs: Any) -> Any:
        self._ml_hooks.before()
        message = self._consumer.poll(*args, **kwargs)
        self._ml_hooks.polled(self._consumer, message)
        return message

    def consume(self, *args: Any, **kwargs: Any) -> Any:
        self._ml_hooks.before()
        messages = self._consumer.consume(*args, **kwargs)
        self._ml_hooks.consumed(self._consumer, messages)
        return messages

    def commit(self, *args: Any, **kwargs: Any) -> Any:
        self._ml_hooks.before()
        result = self._consumer.commit(*args, **kwargs)
        self._ml_hooks.committed(self._consumer)
        return result

    def close(self, *args: Any, **kwargs: Any) -> Any:
        self._ml_hooks.before()
        return self._consumer.close(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)

    def __repr__(self) -> str:
        return f"<instrumented {self._consumer!r}>"


def _subclasses(producer_type: type, consumer_type: type, sink: Sink,
                lag_interval_s: float) -> tuple[type, type]:
    """Subclasses of the C types whose instances carry their hooks."""

    class InstrumentedProducer(producer_type):  # type: ignore[valid-type,misc]
        """``confluent_kafka.Producer`` with ``produce()`` instrumented by monitoring-layer."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            config = _config(args, kwargs)
            super().__init__(*args, **kwargs)
            self._ml_hooks = ProducerHooks(sink, on_delivery=config.get("on_delivery"),
                                           client_id=config.get("client.id"))

        def produce(self, topic: Any, *args: Any, **kwargs: Any) -> Any:
            return self._ml_hooks.produce(super().produce, topic, args, kwargs)

    class InstrumentedConsumer(consumer_type):  # type: ignore[valid-type,misc]
        """``confluent_kafka.Consumer`` with ``poll``/``consume``/``commit``/``close`` instrumented."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            config = _config(args, kwargs)
            super().__init__(*args, **kwargs)
            self._ml_hooks = ConsumerHooks(sink, group_id=config.get("group.id"),
                                           client_id=config.get("client.id"), lag_interval_s=lag_interval_s)

        def poll(self, *args: Any, **kwargs: Any) -> Any:
            self._ml_hooks.before()
            message = super().poll(*args, **kwargs)
            self._ml_hooks.polled(self, message)
            return message

        def consume(self, *args: Any, **kwargs: Any) -> Any:
            self._ml_hooks.before()
            messages = super().consume(*args, **kwargs)
            self._ml_hooks.consumed(self, messages)
            return messages

        def commit(self, *args: Any, **kwargs: Any) -> Any:
            self._ml_hooks.before()
            result = super().commit(*args, **kwargs)
            self._ml_hooks.committed(self)
            return result

        def close(self, *args: Any, **kwargs: Any) -> Any:
            self._ml_hooks.before()
            return super().close(*args, **kwargs)

    return InstrumentedProducer, InstrumentedConsumer


class KafkaInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """confluent-kafka: ``kafka_messages_out``, ``kafka_messages_in``, ``kafka_lag``,
    ``kafka_processing_time_ms`` (and ``kafka_delivery_failures``), PRODUCER/CONSUMER spans
    joined through W3C context in the message headers.

    ``instrument(metrics_collector=None, tracer_provider=None, lag_interval_s=10.0)``;
    left ``None``, the collector and provider are the process-wide ones, looked up at the first record.
    """

    _sink: Sink | None = None
    _originals: tuple[type, type] | None = None
    _lag_interval_s = 10.0

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("confluent-kafka >= 2.3",)

    def _instrument(self, **kwargs: Any) -> None:
        import confluent_kafka

        sink = Sink("kafka", _SCOPE, kwargs.get("metrics_collector"), kwargs.get("tracer_provider"),
                    extra=EXTRA_METRICS)
        lag_interval_s = kwargs.get("lag_interval_s", 10.0)
        ConsumerHooks(sink, lag_interval_s=lag_interval_s)  # validates the argument before anything changes
        originals = (confluent_kafka.Producer, confluent_kafka.Consumer)
        producer, consumer = _subclasses(*originals, sink, lag_interval_s)
        self._sink, self._originals, self._lag_interval_s = sink, originals, lag_interval_s
        # module attributes, not methods: the C types' own methods cannot be replaced
        setattr(confluent_kafka, "Producer", producer)
        setattr(confluent_kafka, "Consumer", consumer)

    def _uninstrument(self, **kwargs: Any) -> None:
        import confluent_kafka

        if self._originals is not None:
            setattr(confluent_kafka, "Producer", self._originals[0])
            setattr(confluent_kafka, "Consumer", self._originals[1])
        if self._sink is not None:
            self._sink.active = False  # objects built while instrumented now pass calls through
        self._sink = self._originals = None

    def _current_sink(self, metrics_collector: Any, tracer_provider: Any) -> Sink:
        if metrics_collector is None and tracer_provider is None and self._sink is not None:
            return self._sink
        return Sink("kafka", _SCOPE, metrics_collector, tracer_provider, extra=EXTRA_METRICS)

    def instrument_producer(self, producer: Any, *, on_delivery: Any = None, client_id: str | None = None,
                            metrics_collector: Any = None, tracer_provider: Any = None) -> Any:
        """An instrumented stand-in for ``producer`` (built before ``instrument()``, or a SerializingProducer).

        Pass the ``on_delivery`` callback the producer was configured with, if any: the instrumented
        ``produce()`` passes a per-message callback, which takes the configured one's place.
        """
        if not callable(getattr(producer, "produce", None)):
            raise TypeError(f"producer must be a confluent_kafka Producer, not {type(producer).__name__}")
        hooks = ProducerHooks(self._current_sink(metrics_collector, tracer_provider), on_delivery=on_delivery,
                              client_id=client_id)
        return _ProducerProxy(producer, hooks)

    def instrument_consumer(self, consumer: Any, *, group_id: str | None = None, client_id: str | None = None,
                            lag_interval_s: float | None = None, metrics_collector: Any = None,
                            tracer_provider: Any = None) -> Any:
        """An instrumented stand-in for ``consumer`` (built before ``instrument()``, or a DeserializingConsumer)."""
        if not callable(getattr(consumer, "poll", None)):
            raise TypeError(f"consumer must be a confluent_kafka Consumer, not {type(consumer).__name__}")
        hooks = ConsumerHooks(self._current_sink(metrics_collector, tracer_provider), group_id=group_id,
                              client_id=client_id,
                              lag_interval_s=self._lag_interval_s if lag_interval_s is None else lag_interval_s)
        return _ConsumerProxy(consumer, hooks)
