"""Property: two metric names never share a Prometheus family silently (issue 15, item 6).

For any two registrations, either both work and their families (``prometheus_name()``)
are distinct and each appears in the exposition with its own value, or the second
raises ``ValueError`` naming both metrics.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client.parser import text_string_to_metric_families

from monitoring_layer import MetricsCollector
from tests._strategies import METRIC_NAMES

TYPES = st.sampled_from(["counter", "gauge", "histogram", "summary"])
UNITS = st.sampled_from(["", "1", "ms", "s", "us", "By", "MB", "KiB", "%", "min", "bytes", "seconds"])
# Names built from parts that make families meet: unit words, _total, case.
_PARTS = st.sampled_from(["a", "A", "b", "_total", "_seconds", "_ms", "_bytes", "_mb", "_s", "_count", "_sum",
                          "_bucket", "_created", "_info", "_ratio", "_1"])
NEAR_NAMES = st.builds(lambda head, tail: head + "".join(tail), st.sampled_from(["a", "A", "b", "Ab"]),
                       st.lists(_PARTS, max_size=3))
NAMES = st.one_of(NEAR_NAMES, METRIC_NAMES)


def _record(metrics: MetricsCollector, name: str, kind: str, value: float) -> None:
    {"counter": metrics.increment_counter, "gauge": metrics.set_gauge,
     "histogram": metrics.observe_histogram, "summary": metrics.observe_summary}[kind](name, value)


def _samples(exposition: str) -> dict[str, set[str]]:
    """Family name -> the sample names it holds, as a scraper parses them."""
    return {family.name: {s.name for s in family.samples} for family in text_string_to_metric_families(exposition)}


@given(first=st.tuples(NAMES, TYPES, UNITS), second=st.tuples(NAMES, TYPES, UNITS))
@example(first=("b", "counter", ""), second=("b_total", "counter", ""))
@example(first=("a", "histogram", "s"), second=("a_seconds", "histogram", "s"))
@example(first=("QueueDepth", "gauge", ""), second=("queuedepth", "gauge", ""))
@example(first=("a", "summary", ""), second=("a_count", "counter", ""))
@example(first=("a", "histogram", ""), second=("a_bucket", "gauge", ""))  # found: a_bucket written twice
@example(first=("a", "counter", ""), second=("a_total", "gauge", ""))  # found: a_total written twice
def test_two_names_have_distinct_families_or_the_second_is_refused(first, second) -> None:
    provider = MeterProvider()
    metrics = MetricsCollector(provider)
    try:
        metrics.register_metric(first[0], first[1], unit=first[2])
        try:
            metrics.register_metric(second[0], second[1], unit=second[2])
        except ValueError as exc:
            assert repr(second[0]) in str(exc) and repr(first[0]) in str(exc), exc
            return
        if second[0] == first[0]:
            assert second[1] == first[1]  # the same metric again: a no-op (documented; the first unit stays)
            return
        family_1 = metrics.prometheus_name(first[0])
        family_2 = metrics.prometheus_name(second[0])
        assert family_1 != family_2
        _record(metrics, first[0], first[1], 1)
        _record(metrics, second[0], second[1], 2)
        samples = _samples(metrics.export_prometheus_format())
        names = {family_1.removesuffix("_total") if first[1] == "counter" else family_1,
                 family_2.removesuffix("_total") if second[1] == "counter" else family_2}
        assert len(names) == 2 and names <= set(samples), (names, sorted(samples))
        # No sample name is served by both families (a scraper would merge them into one series).
        one, two = (samples[n] for n in names)
        assert not one & two, (one & two)
    finally:
        metrics.close()
        provider.shutdown()
