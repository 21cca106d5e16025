"""Metrics collector (SPEC.md section 1): counters, gauges, histograms and summaries over OTel.

See ``docs/metrics.md``.
"""

from ._collector import METER_NAME, MetricsCollector, UnknownMetricError
from ._global import _COLLECTOR as PROCESS_WIDE
from ._global import get_metrics_collector
from ._names import MetricType
from ._prometheus import PrometheusBridge, PullPrometheusReader, render_exposition
from ._self import SelfMetrics

__all__ = ["METER_NAME", "PROCESS_WIDE", "MetricType", "MetricsCollector", "PrometheusBridge",
           "PullPrometheusReader", "SelfMetrics", "UnknownMetricError", "get_metrics_collector",
           "render_exposition"]
