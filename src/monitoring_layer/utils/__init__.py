"""Utilities & decorators (SPEC §8): function decorators, block context managers,
retries and naming helpers, on top of the metrics, log and tracing collectors.

Every collector argument is optional: ``None`` means the process-wide one,
looked up when the function runs (see ``docs/integration.md`` for the metric
families they record).
"""

from ._names import make_log_message, make_metric_name
from .context import count_operation, measure_time
from .decorators import CountCalls, LogFunction, TraceFunction, TrackErrors, TrackExecution, TrackTiming
from .retry import retry_with_tracking

__all__ = [
    "CountCalls",
    "LogFunction",
    "TraceFunction",
    "TrackErrors",
    "TrackExecution",
    "TrackTiming",
    "count_operation",
    "make_log_message",
    "make_metric_name",
    "measure_time",
    "retry_with_tracking",
]
