"""Process-wide defaults: the ``get_*()`` getters and ``serve()``, built on ``get_pipeline()``.

Top layer (beside the package face): this is the only place where a component
meets the process-wide pipeline, so no facade or engine imports ``pipeline``.
Each component adds one small block here: it installs the builder of its
``ProcessWide`` holder (the facade's ``get_*()`` only asks the holder) and
re-exports the getter, so ``monitoring_layer.get_x is monitoring_layer.x.get_x``.
The package face imports this module first, so every builder is installed
before any getter can be called.
"""

from __future__ import annotations

from collections.abc import Iterable

from monitoring_layer import server
from monitoring_layer._http import ServerHandle
from monitoring_layer.integration import platform_integration
from monitoring_layer.logging import log_aggregator
from monitoring_layer.logging.log_aggregator import LogAggregator
from monitoring_layer.metrics import _global as metrics_global
from monitoring_layer.metrics._collector import MetricsCollector
from monitoring_layer.pipeline import get_pipeline
from monitoring_layer.tracing import _collector as tracing_global
from monitoring_layer.tracing._collector import TracingCollector

__all__ = ["get_log_aggregator", "get_metrics_collector", "get_monitoring_integration", "get_tracing_collector",
           "serve"]


# -- metrics facade ---------------------------------------------------------------

metrics_global._COLLECTOR.set_build(lambda: MetricsCollector(pipeline=get_pipeline()))

get_metrics_collector = metrics_global.get_metrics_collector


# -- logging facade ---------------------------------------------------------------

def _log_aggregator() -> LogAggregator:
    pipeline = get_pipeline()
    return LogAggregator(pipeline.logger_provider, settings=pipeline.settings)


log_aggregator._AGGREGATOR.set_build(_log_aggregator)

get_log_aggregator = log_aggregator.get_log_aggregator


# -- tracing facade ---------------------------------------------------------------

def _tracing_collector() -> TracingCollector:
    pipeline = get_pipeline()
    return TracingCollector(pipeline.tracer_provider, settings=pipeline.settings)


tracing_global._COLLECTOR.set_build(_tracing_collector)

get_tracing_collector = tracing_global.get_tracing_collector


# -- platform integration ---------------------------------------------------------

get_monitoring_integration = platform_integration.get_monitoring_integration


# -- the one embedded server ----------------------------------------------------

def serve(host: str = "127.0.0.1", port: int = 0, *, mounts: Iterable[server.Mount] = ()) -> ServerHandle:
    """Serve ``/metrics`` (and every registered mount) of the process-wide pipeline.

    Bound to ``127.0.0.1`` unless ``host`` is given; ``port=0`` picks a free port.
    Returns a handle with ``.url`` and ``.close()``; raises ``OSError`` when the
    address is taken.

    >>> handle = monitoring_layer.serve(port=9464)  # doctest: +SKIP
    >>> handle.url, handle.close()  # doctest: +SKIP
    """
    return server.start(get_pipeline(), host, port, extra_mounts=mounts)
