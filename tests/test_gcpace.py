"""Young collections for what our buffers keep (``_gcpace``): a store at its cap replaces one old
record with each new one, so CPython's count of allocations minus frees stays flat and the records
pile up in the youngest generation until one long collection scans them all."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider

from monitoring_layer import _gcpace, _selfmon, config
from monitoring_layer._inbox import Inbox
from monitoring_layer.tracing import TraceStore


@contextlib.contextmanager
def _collector(enabled: bool = True, threshold: int = 700) -> Iterator[list[int]]:
    """CPython's collector as ``enabled``/``threshold`` say (the session's state restored after);
    yields the generations of the collections that ran meanwhile."""
    generations: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            generations.append(info["generation"])

    thresholds, was_enabled = gc.get_threshold(), gc.isenabled()
    gc.set_threshold(threshold, 10, 10)
    (gc.enable if enabled else gc.disable)()
    gc.callbacks.append(seen)
    try:
        yield generations
    finally:
        gc.callbacks.remove(seen)
        gc.set_threshold(*thresholds)
        (gc.enable if was_enabled else gc.disable)()


def _largest_young_generation(store_cap: int, spans: int) -> int:
    """Root spans recorded into a full store of ``store_cap`` traces: the largest youngest generation seen."""
    store = TraceStore(max_traces=store_cap)
    provider = TracerProvider()
    provider.add_span_processor(store)
    tracer = provider.get_tracer("t")
    try:
        for _ in range(store_cap):  # fill it: from here each new trace evicts the oldest
            tracer.start_span("fill", context=Context()).end()
        gc.collect()
        largest = 0
        with _collector():
            for i in range(spans):
                tracer.start_span("s", context=Context()).end()
                if i % 500 == 0:
                    largest = max(largest, len(gc.get_objects(0)))
        assert len(store.summaries()[0]) == store_cap
        return largest
    finally:
        provider.shutdown()


def test_a_store_at_its_cap_does_not_pile_records_up_in_the_youngest_generation(monkeypatch) -> None:
    budget = 700 * _gcpace.BUDGET_FACTOR  # items (a span is two: started, ended)
    paced = _largest_young_generation(40_000, 40_000)
    # Each span keeps about two tracked objects (its record, its done trace) until a young
    # collection scans them: a look collects once they pass the limit, and the next look comes
    # ``budget`` items later. Measured: about 31,000 paced (the limit, 28,000, and a budget's
    # worth), 78,000 not.
    limit = 700 * _gcpace.LIMIT_FACTOR
    assert paced < limit + 2 * budget, f"{paced:,} objects in the youngest generation"
    monkeypatch.setattr(_gcpace, "BUDGET_FACTOR", 10**9)  # as before pacing: the test must see the pile-up
    unpaced = _largest_young_generation(40_000, 40_000)
    assert unpaced > 2 * limit, f"{unpaced:,}: the replacement at the cap did not hide the records"


def test_a_look_collects_a_pile_up_and_nothing_else(monkeypatch) -> None:
    # A first threshold of 100,000 so that the pile below starts no collection by itself; the
    # budget (1,000 items) and the limit (20,000 objects) scaled to it.
    monkeypatch.setattr(_gcpace, "BUDGET_FACTOR", 0.01)
    monkeypatch.setattr(_gcpace, "LIMIT_FACTOR", 0.2)
    with _collector(threshold=100_000) as generations:
        gc.collect()
        del generations[:]
        for _ in range(3):  # nothing piled up: the looks leave the collector alone
            _gcpace.kept(1_000)
        assert generations == []
        pile = [(i,) for i in range(30_000)]  # tuples of atoms, as records are
        assert gc.is_tracked(pile[-1])
        _gcpace.kept(1_000)
        assert generations == [0] and not gc.is_tracked(pile[-1])


@pytest.mark.parametrize(("enabled", "threshold"), [(False, 700), (True, 0)],
                         ids=["collector disabled", "threshold 0"])
def test_kept_items_leave_a_collector_the_host_turned_off_alone(enabled: bool, threshold: int) -> None:
    with _collector(enabled, threshold) as generations:
        pile = [(i,) for i in range(30_000)]
        for _ in range(4):
            _gcpace.kept(10**6)
        assert generations == [] and gc.is_tracked(pile[-1])


def test_a_fault_in_a_look_never_reaches_the_recording_thread(monkeypatch) -> None:
    def broken(n: int) -> None:
        raise MemoryError("no room to list the youngest generation")

    monkeypatch.setattr(_gcpace, "kept", broken)
    monkeypatch.setenv("MONITORING_STRICT", "0")  # contained, as in production
    config._reset_for_tests()
    applied: list[int] = []
    inbox = Inbox(applied.extend, "traces", fault_kind="tracing", drain_at=4, wait_at=100)
    before = _selfmon.counts()["errors"].get("tracing", 0)
    for i in range(8):
        inbox.put(i)  # the fourth and the eighth apply a batch, and each look fails
    assert applied == list(range(8))
    assert _selfmon.counts()["errors"]["tracing"] == before + 2
    assert _selfmon.counts()["dropped"].get(("traces", "batch_fault"), 0) == 0
