"""The process-wide collector, and what a forked child must renew."""

from __future__ import annotations

import threading

from monitoring_layer import _lifecycle
from monitoring_layer._process_wide import ProcessWide

from ._collector import _COLLECTORS, MetricsCollector, _pid

__all__ = ["get_metrics_collector"]

#: Built by ``monitoring_layer._defaults`` on the process-wide pipeline (this layer never imports it).
_COLLECTOR: ProcessWide[MetricsCollector] = ProcessWide(
    None, close=lambda collector: collector.close(), what="get_metrics_collector()")


def _after_fork_in_child() -> None:
    # A lock held by another thread at fork time stays locked forever in the
    # child: give every collector and metric new ones. The child is a new
    # source (service/pid) and starts its own series from zero: what the parent
    # recorded is the parent's to report, so keeping it here would count it
    # twice wherever sources are summed (the file, a multi-process /metrics).
    for collector in list(_COLLECTORS):
        collector._lock = threading.RLock()
        collector._pending = 0
        collector._source = collector._source.rsplit("/", 1)[0] + f"/{_pid()}"
        for metric in list(collector._metrics.values()):
            metric.lock = threading.Lock()
            metric.pending = 0
            metric.points.clear()
            metric.dropped_age = 0
            metric.dropped_reported = 0
            for series in list(metric.series.values()):
                series.pending = []
                series.count = 0
                series.total = 0
                series.last = None


_lifecycle.register("metrics collectors", after_fork_child=_after_fork_in_child)


def get_metrics_collector() -> MetricsCollector:
    """The process-wide collector, on ``get_pipeline()`` (built on first use)."""
    return _COLLECTOR.get()
