"""The process-wide engines, built on first use on the process-wide pipeline and facades.

This module sits at the top of the layering (beside the package face): it may
import ``monitoring_layer.pipeline`` and the facades' getters; the engines
themselves never do. Each engine's getter builds its instance once per process.
"""

from __future__ import annotations

from monitoring_layer import _http
from monitoring_layer._process_wide import ProcessWide
from monitoring_layer.health import HealthCheckManager, mount_health
from monitoring_layer.metrics import get_metrics_collector
from monitoring_layer.pipeline import get_pipeline

__all__ = ["get_health_check_manager", "serve_health"]


def _build_health() -> HealthCheckManager:
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
    router = _http.Router()
    mount_health(router, get_health_check_manager())
    return _http.start_server(router, host, port)
