"""Alert manager (SPEC section 5): threshold rules on metric readings, incidents, silences, notifications.

See ``docs/alerts.md``.
"""

from ._channels import CHANNEL_TYPES, NotificationChannel
from ._model import AlertRule, AlertState, Severity
from .alert_manager import AlertManager

__all__ = ["CHANNEL_TYPES", "AlertManager", "AlertRule", "AlertState", "NotificationChannel", "Severity"]
