"""OTel SDK exporters that write the documented JSON files under ``MONITORING_HOME``.

``JsonFileSpanExporter``, ``JsonFileMetricExporter`` and ``JsonFileLogExporter``
are ordinary OTel exporters: the pipeline wires them in, and OTel's own
configuration finds them as ``monitoring_json`` (``OTEL_TRACES_EXPORTER=monitoring_json``).
They share ``JsonFileStore`` (atomic write, process lock, retention, quarantine);
``schemas/`` holds a JSON Schema per file. ``SpanFileFeed`` and ``LogFileFeed`` are the
processors a pipeline puts in front of the span and log exporters instead of OTel's
batch processors (each item filed as it ends: see ``_feed``).
"""

from ._feed import LogFileFeed, SpanFileFeed, files_written_after, write_unless_deferred
from ._store import SCHEMA_VERSION, JsonFileStore, prepare_home
from .logs import LOGS_FILE, JsonFileLogExporter
from .metrics import METRICS_FILE, JsonFileMetricExporter
from .schema import FILES, load_schema, schema_for, validate
from .traces import TRACES_FILE, JsonFileSpanExporter

__all__ = [
    "FILES",
    "LOGS_FILE",
    "METRICS_FILE",
    "SCHEMA_VERSION",
    "TRACES_FILE",
    "JsonFileLogExporter",
    "JsonFileMetricExporter",
    "JsonFileSpanExporter",
    "JsonFileStore",
    "LogFileFeed",
    "SpanFileFeed",
    "load_schema",
    "prepare_home",
    "schema_for",
    "files_written_after",
    "validate",
    "write_unless_deferred",
]
