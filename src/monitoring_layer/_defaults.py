"""Process-wide defaults: the ``get_*()`` getters and ``serve()``, built on ``get_pipeline()``.

Top layer (beside the package face): this is the only place where a component
meets the process-wide pipeline, so no facade or engine imports ``pipeline``.
Each component adds one small block here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from monitoring_layer import server
from monitoring_layer._http import Router, ServerHandle
from monitoring_layer.dashboard import ObservabilityDashboard, mount_dashboard
from monitoring_layer.logging import get_log_aggregator
from monitoring_layer.metrics import get_metrics_collector
from monitoring_layer.pipeline import get_pipeline
from monitoring_layer.tracing import get_tracing_collector

__all__ = ["get_observability_dashboard", "serve"]


# -- the one embedded server ----------------------------------------------------

def serve(host: str = "127.0.0.1", port: int = 0, *, mounts: Iterable[server.Mount] = ()) -> ServerHandle:
    """Serve ``/metrics``, the dashboard (``/`` and ``/api/*``) and every registered mount of the
    process-wide pipeline.

    Bound to ``127.0.0.1`` unless ``host`` is given; ``port=0`` picks a free port.
    Returns a handle with ``.url`` and ``.close()``; raises ``OSError`` when the
    address is taken. ``MONITORING_DASHBOARD_TOKEN``, when set, is required as a
    bearer token on ``/api/*`` and enables the dashboard's actions.

    >>> handle = monitoring_layer.serve(port=9464)  # doctest: +SKIP
    >>> handle.url, handle.close()  # doctest: +SKIP
    """
    return server.start(get_pipeline(), host, port, extra_mounts=[_mount_dashboard, *mounts])


def _mount_dashboard(router: Router, _pipeline: Any) -> None:
    # Only on serve()'s router, never as a global mount: the pipeline's own Prometheus port is
    # started while the pipeline is being built, before the facades the dashboard needs can exist.
    mount_dashboard(router, get_observability_dashboard())


# -- the observability dashboard ------------------------------------------------

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
    return None  # the health engine's process-wide getter joins here when it is merged


def _default_alerts() -> Any:
    return None  # the alert engine's process-wide getter joins here when it is merged


def _reset_for_tests() -> None:
    with _dashboard_lock:
        _dashboards.clear()
