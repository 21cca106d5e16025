"""Process-wide instances of the engines and the dashboard, built on the global pipeline.

Top layer (beside the package face): it may import ``pipeline`` and every
component; components never import it.
"""

from __future__ import annotations

import threading
from typing import Any

from monitoring_layer.dashboard import ObservabilityDashboard
from monitoring_layer.logging import get_log_aggregator
from monitoring_layer.metrics import get_metrics_collector
from monitoring_layer.tracing import get_tracing_collector

__all__ = ["get_observability_dashboard"]

_dashboard_lock = threading.Lock()
_dashboards: dict[tuple[int, ...], tuple[tuple[Any, ...], ObservabilityDashboard]] = {}
_MAX_DASHBOARDS = 16


def get_observability_dashboard(
    metrics_collector: Any = None,
    log_aggregator: Any = None,
    tracing_collector: Any = None,
    health_manager: Any = None,
    alert_manager: Any = None,
) -> ObservabilityDashboard:
    """The dashboard over the given collaborators, each defaulting to the process-wide instance.

    The same collaborators give the same dashboard (its trace aggregates are
    fed by a span processor it adds once to the tracer provider).
    """
    parts = (
        metrics_collector if metrics_collector is not None else get_metrics_collector(),
        log_aggregator if log_aggregator is not None else get_log_aggregator(),
        tracing_collector if tracing_collector is not None else get_tracing_collector(),
        health_manager if health_manager is not None else _default_health(),
        alert_manager if alert_manager is not None else _default_alerts(),
    )
    key = tuple(id(p) for p in parts)
    with _dashboard_lock:
        found = _dashboards.get(key)
        if found is not None and all(a is b for a, b in zip(found[0], parts)):
            return found[1]
        dashboard = ObservabilityDashboard(*parts)
        if len(_dashboards) >= _MAX_DASHBOARDS:
            _dashboards.pop(next(iter(_dashboards)))
        _dashboards[key] = (parts, dashboard)
        return dashboard


def _default_health() -> Any:
    return None  # the health engine's process-wide getter joins here when it exists


def _default_alerts() -> Any:
    return None  # the alert engine's process-wide getter joins here when it exists


def _reset_for_tests() -> None:
    with _dashboard_lock:
        _dashboards.clear()
