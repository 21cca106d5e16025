"""The process-wide ``get_*()`` getters of the engines, built on the process-wide pipeline and facades.

Top layer (beside the package face): this is the one place that ties an engine,
which takes its collaborators as arguments, to ``get_pipeline()`` and the
process-wide facades.
"""

from __future__ import annotations

from monitoring_layer._process_wide import ProcessWide
from monitoring_layer.alerts import AlertManager
from monitoring_layer.logging import get_log_aggregator
from monitoring_layer.metrics import get_metrics_collector
from monitoring_layer.pipeline import get_pipeline

__all__ = ["get_alert_manager"]


def _build_alert_manager() -> AlertManager:
    pipeline = get_pipeline()
    return AlertManager(get_metrics_collector(), readings=pipeline.readings, home=pipeline.settings.home,
                        log_aggregator=get_log_aggregator())


_ALERT_MANAGER: ProcessWide[AlertManager] = ProcessWide(_build_alert_manager, close=AlertManager.close)


def get_alert_manager() -> AlertManager:
    """The process-wide alert manager: rules evaluated on every collection of ``get_pipeline()``'s readings,
    files under its ``MONITORING_HOME`` (built on first use; rules and incidents reloaded from there)."""
    return _ALERT_MANAGER.get()
