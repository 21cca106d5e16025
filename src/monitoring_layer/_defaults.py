"""Process-wide defaults: the ``get_*()`` getters of the engines and ``serve()``, on ``get_pipeline()``.

Top layer (beside the package face): this is the only place where a component
meets the process-wide pipeline, so no facade or engine imports ``pipeline``.
Each component adds one small block here: its getter, built once per process
on the process-wide pipeline and facades (a facade's ``ProcessWide`` holder gets
its builder installed here, so ``monitoring_layer.get_x is monitoring_layer.x.get_x``
and no facade imports the pipeline), and the mount that puts its routes on the
one embedded server. The package face imports this module first, so every
builder is installed before any getter can be called.

The engines (health checks, alerts) and the dashboard are imported by their
getters and mounts when first called, not with this module: a process that only
records signals never loads them (see the package face's docstring).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from monitoring_layer import _http, server
from monitoring_layer.exporters.prometheus_multiprocess import MultiprocessCollector
from monitoring_layer._http import ServerHandle
from monitoring_layer._process_wide import ProcessWide
from monitoring_layer.integration import platform_integration
from monitoring_layer import logging as logs_facade
from monitoring_layer import metrics as metrics_facade
from monitoring_layer import tracing as tracing_facade
from monitoring_layer.logging import LogAggregator
from monitoring_layer.metrics import MetricsCollector
from monitoring_layer.pipeline import get_pipeline
from monitoring_layer.tracing import TracingCollector

if TYPE_CHECKING:
    from monitoring_layer.alerts import AlertManager
    from monitoring_layer.dashboard import ObservabilityDashboard
    from monitoring_layer.health import HealthCheckManager

__all__ = ["get_alert_manager", "get_health_check_manager", "get_log_aggregator", "get_metrics_collector",
           "get_monitoring_integration", "get_observability_dashboard", "get_tracing_collector", "serve",
           "serve_health"]


# -- metrics facade ---------------------------------------------------------------

metrics_facade.PROCESS_WIDE.set_build(lambda: MetricsCollector(pipeline=get_pipeline()))

get_metrics_collector = metrics_facade.get_metrics_collector


# -- logging facade ---------------------------------------------------------------

def _log_aggregator() -> LogAggregator:
    pipeline = get_pipeline()
    return LogAggregator(pipeline.logger_provider, settings=pipeline.settings)


logs_facade.PROCESS_WIDE.set_build(_log_aggregator)

get_log_aggregator = logs_facade.get_log_aggregator


# -- tracing facade ---------------------------------------------------------------

def _tracing_collector() -> TracingCollector:
    pipeline = get_pipeline()
    return TracingCollector(pipeline.tracer_provider, settings=pipeline.settings)


tracing_facade.PROCESS_WIDE.set_build(_tracing_collector)

get_tracing_collector = tracing_facade.get_tracing_collector


# -- platform integration ---------------------------------------------------------

get_monitoring_integration = platform_integration.get_monitoring_integration


# -- the one embedded server ----------------------------------------------------

def serve(host: str = "127.0.0.1", port: int = 0, *, mounts: Iterable[server.Mount] = (),
          multiprocess: bool = False) -> ServerHandle:
    """Serve ``/metrics``, the health probes, the dashboard (``/``, ``/api/*``) and every registered mount
    of the process-wide pipeline.

    Bound to ``127.0.0.1`` unless ``host`` is given; ``port=0`` picks a free port.
    Returns a handle with ``.url`` and ``.close()``; raises ``OSError`` when the
    address is taken. ``MONITORING_DASHBOARD_TOKEN``, when set, is required as a bearer
    token on ``/api/*`` and enables the dashboard's actions. ``multiprocess=True``: ``/metrics`` merges every process that
    writes its state into this home (``MONITORING_PROMETHEUS_MULTIPROCESS=true`` in them).

    >>> handle = monitoring_layer.serve(port=9464)  # doctest: +SKIP
    >>> handle.url, handle.close()  # doctest: +SKIP
    """
    pipeline = get_pipeline()
    registry = None
    if multiprocess:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(MultiprocessCollector(pipeline.settings.home))  # type: ignore[arg-type]
    return server.start(pipeline, host, port, extra_mounts=[_mount_dashboard, *mounts], registry=registry)


# -- the alert manager ------------------------------------------------------------

def _build_alert_manager() -> AlertManager:
    from monitoring_layer.alerts import AlertManager

    pipeline = get_pipeline()
    return AlertManager(get_metrics_collector(), readings=pipeline.readings, home=pipeline.settings.home,
                        log_aggregator=get_log_aggregator())


_ALERT_MANAGER: ProcessWide[AlertManager] = ProcessWide(_build_alert_manager, close=lambda manager: manager.close())


def get_alert_manager() -> AlertManager:
    """The process-wide alert manager: rules evaluated on every collection of ``get_pipeline()``'s readings,
    files under its ``MONITORING_HOME`` (built on first use; rules and incidents reloaded from there)."""
    return _ALERT_MANAGER.get()


# -- health checks ----------------------------------------------------------------

def _build_health() -> HealthCheckManager:
    from monitoring_layer.health import HealthCheckManager

    pipeline = get_pipeline()
    # OTEL_SDK_DISABLED: checks still run and answer probes, but nothing is written.
    home = pipeline.settings.home if pipeline.enabled else None
    return HealthCheckManager(metrics_collector=get_metrics_collector(), home=home,
                              write_interval_s=pipeline.settings.export_interval_s)


_HEALTH: ProcessWide[HealthCheckManager] = ProcessWide(_build_health, close=lambda manager: manager.close())


def get_health_check_manager() -> HealthCheckManager:
    """The process-wide ``HealthCheckManager``: metrics through ``get_metrics_collector()``, files
    under the pipeline's ``MONITORING_HOME``, a background runner started by the first check.

    >>> health = get_health_check_manager()  # doctest: +SKIP
    >>> health.register_check("kafka", "broker_connectivity", create_kafka_check(["localhost:9092"]))  # doctest: +SKIP
    """
    return _HEALTH.get()


def serve_health(host: str = "127.0.0.1", port: int = 0) -> _http.ServerHandle:
    """Serve only the health probes (``/livez``, ``/readyz``, ``/startupz``, ``/healthz``) of the
    process-wide manager; returns a handle with ``.url`` and ``.close()``.

    >>> server = serve_health(port=8081)  # doctest: +SKIP
    """
    from monitoring_layer.health import mount_health

    router = _http.Router()
    mount_health(router, get_health_check_manager())
    return _http.start_server(router, host, port)


def _no_checks() -> HealthCheckManager:
    from monitoring_layer.health import HealthCheckManager

    return HealthCheckManager(background=False)


_NO_CHECKS: ProcessWide[HealthCheckManager] = ProcessWide(_no_checks)


def _current_health() -> HealthCheckManager:
    # A probe never builds the process-wide pipeline: until something registers a check
    # (which builds the manager), the answer is that of a manager with no checks: pass.
    return _HEALTH.peek() or _NO_CHECKS.get()


def _mount_health(router: _http.Router, _pipeline: Any) -> None:
    # The probes of the process-wide manager on every server of the pipeline (serve() and the
    # OTEL_EXPORTER_PROMETHEUS_PORT one), looked up at each request: mounting builds nothing
    # (it imports the health package, when a server starts).
    from monitoring_layer.health import mount_health

    mount_health(router, _current_health)


server.add_mount(_mount_health)


# -- the observability dashboard ------------------------------------------------

def _mount_dashboard(router: _http.Router, _pipeline: Any) -> None:
    # Only on serve()'s router, never as a global mount: the pipeline's own Prometheus port is
    # started while the pipeline is being built, before the facades the dashboard needs can exist.
    from monitoring_layer.dashboard import mount_dashboard

    mount_dashboard(router, get_observability_dashboard())


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

    >>> dashboard = get_observability_dashboard()  # doctest: +SKIP
    >>> dashboard.get_dashboard_summary()["status"]  # doctest: +SKIP
    """
    parts = (
        metrics_collector if metrics_collector is not None else get_metrics_collector(),
        log_aggregator if log_aggregator is not None else get_log_aggregator(),
        tracing_collector if tracing_collector is not None else get_tracing_collector(),
        health_manager if health_manager is not None else get_health_check_manager(),
        alert_manager if alert_manager is not None else get_alert_manager(),
    )
    from monitoring_layer.dashboard import ObservabilityDashboard

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

