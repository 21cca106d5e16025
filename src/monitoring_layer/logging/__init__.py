"""The log aggregator (SPEC §2): centralised logging as a facade over an OTel ``LoggerProvider``."""

from ._bridge import AggregatorHandler, LoggingCapture
from ._levels import LEVELS, parse_level
from monitoring_layer._scrub import DEFAULT_REDACT_KEYS, REDACTED
from ._store import ERROR_BUCKET, LogStore
from .log_aggregator import _AGGREGATOR as PROCESS_WIDE
from .log_aggregator import LogAggregator, get_log_aggregator

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "ERROR_BUCKET",
    "LEVELS",
    "PROCESS_WIDE",
    "REDACTED",
    "AggregatorHandler",
    "LogAggregator",
    "LogStore",
    "LoggingCapture",
    "get_log_aggregator",
    "parse_level",
]
