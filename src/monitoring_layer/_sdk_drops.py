"""Count what the OTel SDK's batch processors drop, for every signal.

In SDK 1.45 ``BatchSpanProcessor`` and ``BatchLogRecordProcessor`` hand items to
a shared ``BatchProcessor`` whose queue is a ``deque(maxlen=max_queue_size)``:
when it is full, ``emit`` logs one "Queue full, dropping ..." warning, calls
``self._metrics.drop_items(1)`` and appends anyway, pushing out the *oldest*
queued item. That ``drop_items`` call is the one place that knows an item was
lost, and it only counts when ``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED`` is
on. ``count_drops`` wraps that metrics object so every drop is also counted in
``monitoring_layer_dropped_total{signal, reason}`` (``queue_full``,
``already_shutdown``), at no cost while nothing is dropped.

The attributes are private (reached through ``_compat``); on an SDK without
them nothing is wrapped, ``count_drops`` returns False and a ``compat`` fault is counted.
"""

from __future__ import annotations

from typing import Any

from monitoring_layer import _compat, _selfmon

__all__ = ["count_drops"]


class _CountingMetrics:
    """Delegates to the SDK's processor metrics and counts drops in the self-metrics."""

    def __init__(self, inner: Any, signal: str) -> None:
        self._inner = inner
        self._signal = signal

    def drop_items(self, count: int, error_type: str = "queue_full") -> None:
        _selfmon.dropped(self._signal, str(error_type), count)
        self._inner.drop_items(count, error_type)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def count_drops(processor: Any, signal: str) -> bool:
    """Count the drops of a batch ``processor`` under ``signal``; True when it is (now) watched."""
    found = _compat.batch_processor_metrics(processor)
    if found is None:
        return False
    batch, metrics = found
    if not isinstance(metrics, _CountingMetrics):
        batch._metrics = _CountingMetrics(metrics, signal)  # noqa: SLF001
    return True
