"""monitoring-layer: metrics, logs, traces, health checks and alerts for Python data platforms.

An OpenTelemetry distribution: the public API below is a set of thin facades
over OTel providers built by ``monitoring_layer.pipeline``; exporters write the
documented JSON files under ``MONITORING_HOME`` and serve Prometheus.

This module only re-exports the public names. The signals' facades, the pipeline,
the integration, the decorators and every ``get_*()`` are imported with the package;
the engines (health checks, alerts) and the dashboard when first used: a getter
imports its engine when called, and their classes and functions here are looked up
on first use (``__getattr__`` below). A process that only records metrics, logs
and spans neither pays their import time nor carries their objects (asyncio,
sqlite3, smtplib...) through every garbage collection.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from monitoring_layer._defaults import (
    get_alert_manager,
    get_health_check_manager,
    get_log_aggregator,
    get_metrics_collector,
    get_monitoring_integration,
    get_observability_dashboard,
    get_tracing_collector,
    serve,
    serve_health,
)
from monitoring_layer._version import __version__
from monitoring_layer.config import Settings, configure, get_settings
from monitoring_layer.errors import ConfigError, MonitoringError, UnknownMetricError
from monitoring_layer.exporters import (
    JsonFileLogExporter,
    JsonFileMetricExporter,
    JsonFileSpanExporter,
)
from monitoring_layer.integration import MonitoringIntegration
from monitoring_layer.logging import LogAggregator
from monitoring_layer.metrics import MetricsCollector, MetricType
from monitoring_layer.pipeline import Pipeline, flush, get_pipeline, shutdown
from monitoring_layer.tracing import TracingCollector, extract, inject
from monitoring_layer.types import LogRecordDict, MetricStatistics, TraceDict
from monitoring_layer.utils import (
    CountCalls,
    LogFunction,
    TraceFunction,
    TrackErrors,
    TrackExecution,
    TrackTiming,
    count_operation,
    make_log_message,
    make_metric_name,
    measure_time,
    retry_with_tracking,
)

if TYPE_CHECKING:
    from monitoring_layer.alerts import AlertManager, AlertRule, NotificationChannel, Severity
    from monitoring_layer.dashboard import ObservabilityDashboard
    from monitoring_layer.health import (
        HealthCheckManager,
        HealthStatus,
        create_database_check,
        create_kafka_check,
        create_storage_check,
    )

#: Public names imported on first use, by the module that holds them.
_ON_FIRST_USE = {
    **dict.fromkeys(("AlertManager", "AlertRule", "NotificationChannel", "Severity"), "monitoring_layer.alerts"),
    "ObservabilityDashboard": "monitoring_layer.dashboard",
    **dict.fromkeys(("HealthCheckManager", "HealthStatus", "create_database_check", "create_kafka_check",
                     "create_storage_check"), "monitoring_layer.health"),
}
#: Subpackages that ``import monitoring_layer`` used to bring along: ``monitoring_layer.alerts.X`` still works.
_SUBPACKAGES = frozenset({"alerts", "dashboard", "health"})


def __getattr__(name: str) -> Any:
    module = _ON_FIRST_USE.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # the next lookup is a plain one
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "AlertManager",
    "AlertRule",
    "ConfigError",
    "CountCalls",
    "HealthCheckManager",
    "HealthStatus",
    "JsonFileLogExporter",
    "JsonFileMetricExporter",
    "JsonFileSpanExporter",
    "LogAggregator",
    "LogFunction",
    "LogRecordDict",
    "MetricStatistics",
    "MetricType",
    "MetricsCollector",
    "MonitoringError",
    "MonitoringIntegration",
    "NotificationChannel",
    "ObservabilityDashboard",
    "Pipeline",
    "Settings",
    "Severity",
    "TraceDict",
    "TraceFunction",
    "TracingCollector",
    "TrackErrors",
    "TrackExecution",
    "TrackTiming",
    "UnknownMetricError",
    "__version__",
    "configure",
    "count_operation",
    "create_database_check",
    "create_kafka_check",
    "create_storage_check",
    "extract",
    "flush",
    "get_alert_manager",
    "get_health_check_manager",
    "get_log_aggregator",
    "get_metrics_collector",
    "get_monitoring_integration",
    "get_observability_dashboard",
    "get_pipeline",
    "get_settings",
    "get_tracing_collector",
    "inject",
    "make_log_message",
    "make_metric_name",
    "measure_time",
    "retry_with_tracking",
    "serve",
    "serve_health",
    "shutdown",
]
