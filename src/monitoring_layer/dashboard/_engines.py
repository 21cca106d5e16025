"""The health and alert engines as the panels see them: duck-typed, normalised, secrets removed.

Live, the dashboard calls the engines' public methods (``get_system_health()``,
``get_active_alerts()``, ``get_open_incidents()``, ``get_alert_statistics()``,
``acknowledge_alert``/``resolve_alert``). From a home it reads their files
(``health/health_status.json``, ``alerts/rules.json``, ``incidents.json``,
``audit_log.json``), each absent file reading as empty. Either way, values
are turned into plain JSON (``to_dict()``, dataclasses, enums) and every key
that can hold a secret (channel configs, webhooks, tokens, passwords) is
removed before anything reaches a panel, a page or the API.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

__all__ = ["HEALTH_ORDER", "SEVERITIES", "alert_time_ns", "plain", "redact"]

#: Worst last.
HEALTH_ORDER = ("healthy", "unknown", "degraded", "unhealthy")
SEVERITIES = ("critical", "high", "medium", "low")
_SECRET_KEY = re.compile(r"(?i)(config|secret|passw|token|api[_-]?key|webhook|credential|auth|headers|"
                         r"smtp|url|dsn|channels?_config)")
_ACTIVE_STATES = {"pending", "triggered", "firing", "active", "acknowledged", "suppressed", "open"}


def plain(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-ready data (dicts, lists, str, numbers, bool, None)."""
    if depth > 12:
        return str(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, enum.Enum):
        return plain(value.value, depth + 1)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v, depth + 1) for v in value]
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return plain(to_dict(), depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, depth + 1)
    if hasattr(value, "__dict__"):
        return plain({k: v for k, v in vars(value).items() if not k.startswith("_")}, depth + 1)
    return str(value)


def redact(value: Any) -> Any:
    """``value`` without any key that may hold a secret (recursively)."""
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items() if not _SECRET_KEY.search(k)}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def safe(value: Any) -> Any:
    return redact(plain(value))


def health_status(value: Any) -> str:
    text = str(plain(value) or "unknown").lower()
    return text if text in HEALTH_ORDER else "unknown"


def worst(statuses: list[str]) -> str:
    known = [s for s in statuses if s in HEALTH_ORDER]
    return max(known, key=HEALTH_ORDER.index) if known else "unknown"


def components_of(system: Any) -> list[dict[str, Any]]:
    """``[{"component", "status", ...}]`` from a system-health document (dict or list shapes)."""
    if not isinstance(system, Mapping):
        return []
    raw = system.get("components")
    if raw is None:
        raw = {k: v for k, v in system.items() if isinstance(v, Mapping) and "status" in v}
    items: list[tuple[str, Any]]
    if isinstance(raw, Mapping):
        items = [(str(k), v) for k, v in raw.items()]
    elif isinstance(raw, list):
        items = [(str(v.get("component") or v.get("name") or i), v) for i, v in enumerate(raw)
                 if isinstance(v, Mapping)]
    else:
        items = []
    out = []
    for name, info in items:
        info = dict(info) if isinstance(info, Mapping) else {"status": info}
        info.setdefault("component", name)
        info["status"] = health_status(info.get("status") or info.get("overall_status"))
        out.append(info)
    out.sort(key=lambda c: (-HEALTH_ORDER.index(c["status"]), c["component"]))
    return out


def severity_of(alert: Mapping[str, Any]) -> str:
    return str(alert.get("severity") or "").lower()


def alert_state(alert: Mapping[str, Any]) -> str:
    return str(alert.get("state") or alert.get("status") or "").lower()


def is_active(alert: Mapping[str, Any]) -> bool:
    return alert_state(alert) in _ACTIVE_STATES


def alert_id(alert: Mapping[str, Any]) -> str | None:
    value = alert.get("alert_id") or alert.get("id") or alert.get("fingerprint")
    return None if value is None else str(value)


def alert_time_ns(alert: Mapping[str, Any], *keys: str) -> int | None:
    """Epoch ns of the first of ``keys`` present (ISO text, epoch seconds, ms or ns)."""
    for key in keys or ("triggered_at", "fired_at", "started_at", "starts_at", "created_at", "timestamp", "time"):
        value = alert.get(key)
        ns = to_ns(value)
        if ns is not None:
            return ns
    return None


def to_ns(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        v = float(value)
        if v > 1e17:
            return int(v)
        if v > 1e14:
            return int(v * 1e3)
        if v > 1e11:
            return int(v * 1e6)
        return int(v * 1e9)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return int(moment.timestamp() * 1e6) * 1000
    return None
