"""Secrets are scrubbed with the same rules in spans, span events and metric labels as in logs."""

from __future__ import annotations

import json

from opentelemetry.trace import Status, StatusCode

from monitoring_layer import _compat


def test_span_attributes_and_events_are_scrubbed_before_every_exporter(process_wide) -> None:
    from monitoring_layer import get_tracing_collector

    traces = get_tracing_collector()
    trace_id = traces.start_trace(service="api")
    span = traces.start_span("query", component="db", tags={"db.password": "hunter2", "tokenizer": "bert"})
    traces.add_tag(span, "http.request.header.authorization", "Bearer abc.def")
    traces.add_event(span, "connect", {"dsn": "postgresql://u@h/db password=hunter2", "session_count": 5})
    traces.end_span(span)
    # another instrumentation's span, on the same provider (never through the facade)
    tracer = process_wide.tracer_provider.get_tracer("third.party")
    with tracer.start_as_current_span("call") as other:
        other.set_attribute("Authorization", "Basic dXNlcjpwYXNz")
        other.add_event("retry", {"api_key": "k-123"})
        other.set_status(Status(StatusCode.OK))
    traces.end_trace(trace_id)
    assert process_wide.flush()
    text = (process_wide.settings.home / "traces/traces.json").read_text()
    for secret in ("hunter2", "abc.def", "dXNlcjpwYXNz", "k-123"):
        assert secret not in text, secret
    spans = {s["name"]: s for t in json.loads(text)["traces"] for s in t["spans"]}
    assert spans["query"]["attributes"]["db.password"] == "[REDACTED]"
    assert spans["query"]["attributes"]["tokenizer"] == "bert"
    assert spans["query"]["events"][0]["attributes"]["session_count"] == 5
    queried = json.dumps(traces.get_trace(trace_id))
    assert "hunter2" not in queried and "k-123" not in queried


def test_metric_labels_are_scrubbed_when_the_series_is_created(process_wide) -> None:
    from monitoring_layer import get_metrics_collector

    metrics = get_metrics_collector()
    metrics.increment_counter("logins", labels={"password": "hunter2", "result": "ok"})
    metrics.increment_counter("logins", labels={"password": "other", "result": "ok"})
    metrics.increment_counter("calls", labels={"target": "db user=x password=hunter2"})
    exposition = metrics.export_prometheus_format()
    assert "hunter2" not in exposition and 'password="[REDACTED]"' in exposition
    assert metrics.get_metric_statistics("logins", {"result": "ok"})["total"] == 2
    assert 'target="db user=x password=[REDACTED]"' in exposition
    assert process_wide.flush()
    assert "hunter2" not in (process_wide.settings.home / "metrics/metrics_registry.json").read_text()


def test_without_the_sdk_hook_the_fallback_is_reported(monkeypatch) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from monitoring_layer import _selfmon

    monkeypatch.setattr(_compat, "SPAN_ENDING_HOOK", False)
    assert _compat.add_span_scrubber(TracerProvider(), lambda attributes: None) is False
    assert _selfmon.counts()["errors"]["compat"] == 1
