"""Process-wide defaults: the ``get_*()`` getters and ``serve()``, built on ``get_pipeline()``.

Top layer (beside the package face): this is the only place where a component
meets the process-wide pipeline, so no facade or engine imports ``pipeline``.
Each component adds one small block here.
"""

from __future__ import annotations

from collections.abc import Iterable

from monitoring_layer import server
from monitoring_layer._http import ServerHandle
from monitoring_layer._process_wide import ProcessWide
from monitoring_layer.alerts import AlertManager
from monitoring_layer.logging import get_log_aggregator
from monitoring_layer.metrics import get_metrics_collector
from monitoring_layer.pipeline import get_pipeline

__all__ = ["get_alert_manager", "serve"]


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


# -- the alert manager ------------------------------------------------------------

def _build_alert_manager() -> AlertManager:
    pipeline = get_pipeline()
    return AlertManager(get_metrics_collector(), readings=pipeline.readings, home=pipeline.settings.home,
                        log_aggregator=get_log_aggregator())


_ALERT_MANAGER: ProcessWide[AlertManager] = ProcessWide(_build_alert_manager, close=AlertManager.close)


def get_alert_manager() -> AlertManager:
    """The process-wide alert manager: rules evaluated on every collection of ``get_pipeline()``'s readings,
    files under its ``MONITORING_HOME`` (built on first use; rules and incidents reloaded from there)."""
    return _ALERT_MANAGER.get()
