"""Read-only stand-ins for the health and alert engines over a home's files.

They answer the same query methods the panels call on the live engines, from
``health/health_status.json`` and ``alerts/{rules,incidents,audit_log}.json``
(absent files read as empty). They cannot act: acknowledging or resolving an
alert is the alert engine's business, in the process that owns it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._engines import is_active, severity_of
from ._home import HomeFiles

__all__ = ["HomeAlerts", "HomeHealth"]


def _list(document: Any, *keys: str) -> list[dict[str, Any]]:
    if isinstance(document, list):
        return [d for d in document if isinstance(d, Mapping)]  # type: ignore[misc]
    if isinstance(document, Mapping):
        for key in keys:
            value = document.get(key)
            if isinstance(value, list):
                return [d for d in value if isinstance(d, Mapping)]  # type: ignore[misc]
            if isinstance(value, Mapping):
                return [dict(v, **{"id": k}) if "id" not in v else dict(v)
                        for k, v in value.items() if isinstance(v, Mapping)]
    return []


class HomeHealth:
    """``get_system_health()`` from ``health/health_status.json``."""

    def __init__(self, files: HomeFiles) -> None:
        self._files = files

    def exists(self) -> bool:
        return self._files.health_status.path.exists()

    def get_system_health(self) -> dict[str, Any]:
        document = self._files.health_status.get()
        if isinstance(document, Mapping):
            inner = document.get("system") or document.get("system_health")
            return dict(inner) if isinstance(inner, Mapping) else dict(document)
        return {}

    def get_check_history(self, limit: int = 100) -> list[dict[str, Any]]:
        return _list(self._files.health_history.get(), "history", "records", "checks")[-limit:]


class HomeAlerts:
    """``get_active_alerts()``, ``get_open_incidents()``, ``get_alert_statistics()`` from the alert files."""

    def __init__(self, files: HomeFiles) -> None:
        self._files = files

    def exists(self) -> bool:
        return any(f.path.exists() for f in (self._files.alert_rules, self._files.incidents))

    def _alerts(self) -> list[dict[str, Any]]:
        document = self._files.incidents.get()
        alerts = _list(document, "alerts")
        if not alerts:  # alerts kept inside their incidents
            for incident in _list(document, "incidents"):
                alerts.extend(_list(incident, "alerts"))
        return alerts

    def get_all_alerts(self) -> list[dict[str, Any]]:
        return self._alerts()

    def get_active_alerts(self) -> list[dict[str, Any]]:
        return [a for a in self._alerts() if is_active(a)]

    def get_open_incidents(self) -> list[dict[str, Any]]:
        incidents = _list(self._files.incidents.get(), "incidents")
        return [i for i in incidents if str(i.get("state") or i.get("status") or "open").lower()
                not in ("resolved", "closed")]

    def get_rules(self) -> list[dict[str, Any]]:
        return _list(self._files.alert_rules.get(), "rules")

    def get_audit_log(self, limit: int = 1_000) -> list[dict[str, Any]]:
        return _list(self._files.audit_log.get(), "entries", "records", "audit_log", "events")[-limit:]

    def get_alert_statistics(self) -> dict[str, Any]:
        alerts = self._alerts()
        by_severity: dict[str, int] = {}
        by_state: dict[str, int] = {}
        for alert in alerts:
            by_severity[severity_of(alert)] = by_severity.get(severity_of(alert), 0) + 1
            state = str(alert.get("state") or alert.get("status") or "").lower()
            by_state[state] = by_state.get(state, 0) + 1
        return {"total": len(alerts), "by_severity": by_severity, "by_state": by_state,
                "open_incidents": len(self.get_open_incidents())}
