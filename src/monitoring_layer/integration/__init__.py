"""Platform integration (SPEC §7): component registration, per-layer auto-metrics,
``monitored_function`` and ``create_timer``."""

from .platform_integration import MonitoringIntegration, get_monitoring_integration

__all__ = ["MonitoringIntegration", "get_monitoring_integration"]
