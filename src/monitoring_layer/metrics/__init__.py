"""Metrics collector (SPEC.md section 1): counters, gauges, histograms and summaries over OTel.

See ``docs/metrics.md``.
"""

from ._collector import METER_NAME, MetricsCollector, UnknownMetricError
from ._global import get_metrics_collector
from ._names import MetricType
from ._prometheus import PrometheusBridge

__all__ = ["METER_NAME", "MetricType", "MetricsCollector", "PrometheusBridge", "UnknownMetricError",
           "get_metrics_collector"]
