"""Make the records that OTel's batch processors drop visible.

In SDK 1.45 ``BatchLogRecordProcessor`` hands records to a shared
``BatchProcessor`` whose queue is a ``deque(maxlen=max_queue_size)``: when it is
full, ``emit`` logs one "Queue full, dropping Log." warning (de-duplicated),
calls ``self._metrics.drop_items(1)`` and appends anyway, which silently pushes
out the *oldest* queued record. The ``drop_items`` call is the one place that
knows a record was lost, but it only counts when
``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED`` is on. We wrap that metrics object
so every drop is also counted in
``monitoring_layer_dropped_total{signal="logs", reason="queue_full"}`` (and
``already_shutdown``), at no cost while nothing is dropped.

The attributes used are private; on an SDK without them nothing is wrapped and
``watch_batch_processors`` returns 0 (queries and statistics are unaffected:
the aggregator's store is fed synchronously, never through a queue).
"""

from __future__ import annotations

from typing import Any

from monitoring_layer import _selfmon

__all__ = ["watch_batch_processors"]


class _CountingMetrics:
    """Delegates to the SDK's processor metrics and counts drops in the self-metrics."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def drop_items(self, count: int, error_type: str = "queue_full") -> None:
        _selfmon.dropped("logs", str(error_type), count)
        self._inner.drop_items(count, error_type)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def watch_batch_processors(logger_provider: Any) -> int:
    """Count the drops of every batch processor on ``logger_provider``; returns how many are watched."""
    multi = getattr(logger_provider, "_multi_log_record_processor", None)
    processors = getattr(multi, "_log_record_processors", ()) or ()
    watched = 0
    for processor in processors:
        batch = getattr(processor, "_batch_processor", None)
        metrics = getattr(batch, "_metrics", None)
        if metrics is None or not hasattr(metrics, "drop_items"):
            continue
        if not isinstance(metrics, _CountingMetrics):
            batch._metrics = _CountingMetrics(metrics)  # noqa: SLF001
        watched += 1
    return watched
