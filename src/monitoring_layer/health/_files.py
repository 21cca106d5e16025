"""``health/health_status.json`` and ``health/health_history.json``, through the shared file store.

Both files are merged, not overwritten: several processes may share one
``MONITORING_HOME``, and each replaces only the components and checks it runs
(keys ``"component"`` and ``"component:check"``), keeping the others'. The
history keeps the newest ``history_limit`` results per check, newest first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitoring_layer.exporters import JsonFileStore, prepare_home

__all__ = ["HISTORY_FILE", "STATUS_FILE", "HealthFiles"]

STATUS_FILE = "health/health_status.json"
HISTORY_FILE = "health/health_history.json"


class HealthFiles:
    """Writes the two health files under ``home``."""

    def __init__(self, home: Path, *, history_limit: int) -> None:
        self.home = Path(home)
        self.history_limit = history_limit
        self._prepared = False
        self.status = JsonFileStore(self.home / STATUS_FILE, "health_status")
        self.history = JsonFileStore(self.home / HISTORY_FILE, "health_history")

    def write(self, system: dict[str, Any], history: dict[str, list[dict[str, Any]]]) -> None:
        """Merge ``system`` (``get_system_health()``) and ``history`` (key -> results, newest first)."""
        if not self._prepared:
            prepare_home(self.home, "health")
            self._prepared = True
        updated = system["timestamp"]

        def merge_status(doc: dict[str, Any]) -> dict[str, Any]:
            components = dict(doc.get("components") or {})
            components.update(system["components"])
            statuses = [c.get("status") for c in components.values()]
            order = ("unhealthy", "degraded", "unknown", "healthy")
            overall = next((s for s in order if s in statuses), "healthy")
            return {"updated": updated, "status": overall, "components": dict(sorted(components.items()))}

        limit = self.history_limit

        def merge_history(doc: dict[str, Any]) -> dict[str, Any]:
            checks = dict(doc.get("checks") or {})
            for key, results in history.items():
                checks[key] = results[:limit]
            return {"updated": updated, "limit": limit, "checks": dict(sorted(checks.items()))}

        self.status.update(merge_status)
        self.history.update(merge_history)
