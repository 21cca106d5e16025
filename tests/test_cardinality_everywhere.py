"""The cardinality guard covers every instrument in the process, not only the facade's."""

from __future__ import annotations

import subprocess
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitoring_layer import _selfmon
from monitoring_layer.config import resolve_settings
from monitoring_layer.pipeline import Pipeline
from tests._loopback import ok_backend
from tests._requires import require


@pytest.fixture
def small() -> Pipeline:
    built = Pipeline(resolve_settings(overrides={"export_interval_s": 3600, "metrics_cardinality_limit": 10}))
    yield built
    built.shutdown()


def _family(text: str, name: str):
    return next(f for f in text_string_to_metric_families(text) if f.name == name)


def test_a_third_party_counter_is_folded_past_the_limit(small: Pipeline) -> None:
    from prometheus_client import generate_latest

    counter = small.meter_provider.get_meter("third.party").create_counter("lookups")
    for i in range(50):
        counter.add(2, {"key": f"user-{i}"})
    text = generate_latest(small.prometheus_registry).decode()
    samples = [s for s in _family(text, "lookups").samples if s.name == "lookups_total"]
    assert len(samples) == 11  # ten label sets, one overflow series
    overflow = [s for s in samples if s.labels.get("otel_metric_overflow") == "true"]
    assert len(overflow) == 1 and overflow[0].value == 80
    assert sum(s.value for s in samples) == 100  # nothing lost from the total
    assert _selfmon.counts()["dropped"][("metrics", "cardinality_overflow")] == 40
    generate_latest(small.prometheus_registry)  # a second scrape counts no refused set again
    assert _selfmon.counts()["dropped"][("metrics", "cardinality_overflow")] == 40
    promtool = require("promtool", "Debian package 'prometheus' provides promtool")
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration
def test_urllib_client_metrics_do_not_carry_one_series_per_url(small: Pipeline) -> None:
    from opentelemetry.instrumentation.urllib import URLLibInstrumentor
    from prometheus_client import generate_latest

    instrumentor = URLLibInstrumentor()
    instrumentor.instrument(meter_provider=small.meter_provider, tracer_provider=small.tracer_provider)
    try:
        with ok_backend() as base:
            for i in range(30):
                with urllib.request.urlopen(f"{base}/orders/{i}?q={i}", timeout=5):
                    pass
    finally:
        instrumentor.uninstrument()
    text = generate_latest(small.prometheus_registry).decode()
    http = [f for f in text_string_to_metric_families(text) if f.name.startswith("http_client")]
    assert http, text
    for family in http:
        assert not any("http_url" in s.labels or "url_full" in s.labels for s in family.samples), family
        counts = [s for s in family.samples if s.name.endswith("_count")]
        assert len(counts) <= 2, counts  # one series (per status code), not one per URL


def test_runtime_series_are_there_and_can_be_left_out() -> None:
    from prometheus_client import generate_latest

    with_runtime = Pipeline(resolve_settings(overrides={"export_interval_s": 3600}))
    without = Pipeline(resolve_settings(overrides={"export_interval_s": 3600, "prometheus_runtime_metrics": False}))
    try:
        text = generate_latest(with_runtime.prometheus_registry).decode()
        for name in ("process_resident_memory_bytes", "process_cpu_seconds_total", "python_info",
                     "python_gc_collections_total"):
            assert f"\n{name}" in text, name
        assert "python_info" not in generate_latest(without.prometheus_registry).decode()
    finally:
        with_runtime.shutdown()
        without.shutdown()
