"""Span kinds and the span context manager / decorator, on the real SDK (an in-memory exporter sees them)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from monitoring_layer import extract, inject
from monitoring_layer.config import resolve_settings
from monitoring_layer.tracing import TracingCollector


@pytest.fixture
def recorded() -> Iterator[tuple[TracingCollector, InMemorySpanExporter]]:
    token = otel_context.attach(Context())
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield TracingCollector(provider, settings=resolve_settings()), exporter
    provider.shutdown()
    otel_context.detach(token)


def _by_name(exporter: InMemorySpanExporter) -> dict:
    return {span.name: span for span in exporter.get_finished_spans()}


def test_kinds_default_to_internal_and_server_for_a_remote_parent(recorded) -> None:
    traces, exporter = recorded
    trace_id = traces.start_trace(service="api")
    headers = inject({})
    client = traces.start_span("call inventory", component="api", kind="CLIENT")
    traces.end_span(client)
    produce = traces.start_span("publish", component="api", kind=SpanKind.PRODUCER)
    traces.end_span(produce)
    traces.end_trace(trace_id)
    remote = traces.start_trace(service="inventory", context=extract(headers))
    traces.end_trace(remote)
    worker = traces.start_trace(service="worker", context=extract(headers), kind="consumer")
    traces.end_trace(worker)
    spans = _by_name(exporter)
    assert spans["api"].kind is SpanKind.INTERNAL
    assert spans["call inventory"].kind is SpanKind.CLIENT
    assert spans["publish"].kind is SpanKind.PRODUCER
    assert spans["inventory"].kind is SpanKind.SERVER
    assert spans["worker"].kind is SpanKind.CONSUMER
    assert spans["inventory"].context.trace_id == spans["api"].context.trace_id


def test_a_bad_kind_names_the_argument(recorded) -> None:
    traces, _ = recorded
    with pytest.raises(ValueError, match="kind='serverless'"):
        traces.start_span("x", component="c", kind="serverless")
    with pytest.raises(ValueError, match="kind"):
        traces.start_trace(service="s", kind=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind"):
        traces.span("x", kind="nope")


def test_span_context_manager_nests_and_records_errors(recorded) -> None:
    traces, exporter = recorded
    trace_id = traces.start_trace(service="etl")
    with traces.span("load", component="etl") as span:
        span.add_tag("rows", 120)
        with pytest.raises(KeyError):
            with traces.span("parse", component="etl", kind="internal"):
                raise KeyError("column")
    traces.end_trace(trace_id)
    spans = _by_name(exporter)
    assert spans["load"].attributes["rows"] == 120
    assert spans["load"].status.status_code is StatusCode.UNSET
    assert spans["load"].parent.span_id == spans["etl"].context.span_id
    assert spans["parse"].parent.span_id == spans["load"].context.span_id
    assert spans["parse"].status.status_code is StatusCode.ERROR
    assert spans["parse"].events[0].name == "exception"
    assert spans["parse"].attributes["error.type"] == "KeyError"


def test_span_decorates_sync_and_async_functions(recorded) -> None:
    traces, exporter = recorded

    @traces.span("double", component="math")
    def double(x: int) -> int:
        return 2 * x

    @traces.span("fetch", component="io", kind="client")
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        if x < 0:
            raise ValueError("negative")
        return x

    assert double(4) == 8 and double(5) == 10
    assert asyncio.run(fetch(3)) == 3
    with pytest.raises(ValueError, match="negative"):
        asyncio.run(fetch(-1))
    names = [span.name for span in exporter.get_finished_spans()]
    assert names.count("double") == 2 and names.count("fetch") == 2
    failed = [s for s in exporter.get_finished_spans() if s.name == "fetch"][-1]
    assert failed.kind is SpanKind.CLIENT and failed.status.status_code is StatusCode.ERROR
