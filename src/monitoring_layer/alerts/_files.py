"""``alerts/rules.json``, ``alerts/incidents.json`` and ``alerts/audit_log.json`` through the shared store.

Each write is a read-merge-write under the store's lock, so processes sharing
one ``MONITORING_HOME`` keep each other's records: records are merged by id
(ours replace the file's), and every list is bounded (the newest kept, what
falls off counted as dropped). The audit log is append-only within its bounds
(``max_audit_records`` newest, ``audit_retention_days``).

Channels are stored redacted (``NotificationChannel.redacted()``): secrets
never reach these files. A 0600 secrets file the user points to
(``secrets_file=``) gives reloaded channels their secrets back.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from monitoring_layer import _selfmon
from monitoring_layer.exporters import JsonFileStore, prepare_home

from ._state import iso, parse_iso

__all__ = ["AlertFiles", "AUDIT_FILE", "INCIDENTS_FILE", "RULES_FILE", "load_secrets"]

RULES_FILE = "alerts/rules.json"
INCIDENTS_FILE = "alerts/incidents.json"
AUDIT_FILE = "alerts/audit_log.json"


def _merge_by(existing: Iterable[Mapping[str, Any]], ours: Sequence[Mapping[str, Any]], key: str,
              removed: Iterable[str] = ()) -> list[Mapping[str, Any]]:
    mine = {item[key] for item in ours}
    gone = set(removed)
    kept = [item for item in existing if isinstance(item, Mapping) and item.get(key) not in mine
            and item.get(key) not in gone]
    return kept + list(ours)


def _newest(items: list[Mapping[str, Any]], limit: int, when: str, what: str) -> list[Mapping[str, Any]]:
    if len(items) <= limit:
        return items
    items.sort(key=lambda item: str(item.get(when) or ""))
    _selfmon.dropped("alerts", what, len(items) - limit)
    return items[-limit:]


class AlertFiles:
    """The three files of one home."""

    def __init__(self, home: Path, *, max_incidents: int = 10_000, max_alerts: int = 10_000,
                 max_audit_records: int = 10_000, audit_retention_days: float = 30.0) -> None:
        prepare_home(home, "alerts")
        self.home = home
        self.rules = JsonFileStore(home / RULES_FILE, "alert_rules")
        self.incidents = JsonFileStore(home / INCIDENTS_FILE, "alert_incidents")
        self.audit = JsonFileStore(home / AUDIT_FILE, "alert_audit", records_immutable=True)
        self.max_incidents = max_incidents
        self.max_alerts = max_alerts
        self.max_audit_records = max_audit_records
        self.audit_retention_days = audit_retention_days

    def load(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(rules document, incidents document)`` as on disk (empty documents when absent)."""
        return self.rules.read(), self.incidents.read()

    def write_rules(self, rules: Sequence[Mapping[str, Any]], channels: Sequence[Mapping[str, Any]],
                    removed_rules: Iterable[str] = ()) -> None:
        def merge(doc: dict[str, Any]) -> dict[str, Any]:
            doc["rules"] = _merge_by(doc.get("rules", []), rules, "rule_id", removed_rules)
            doc["channels"] = _merge_by(doc.get("channels", []), channels, "channel_name")
            return doc

        self.rules.update(merge)

    def write_incidents(self, incidents: Sequence[Mapping[str, Any]], alerts: Sequence[Mapping[str, Any]],
                        silences: Sequence[Mapping[str, Any]]) -> None:
        def merge(doc: dict[str, Any]) -> dict[str, Any]:
            doc["incidents"] = _newest(_merge_by(doc.get("incidents", []), incidents, "incident_id"),
                                       self.max_incidents, "updated_at", "incidents_file")
            doc["alerts"] = _newest(_merge_by(doc.get("alerts", []), alerts, "alert_id"),
                                    self.max_alerts, "updated_at", "alerts_file")
            doc["silences"] = _merge_by(doc.get("silences", []), silences, "silence_id")[-self.max_alerts:]
            return doc

        self.incidents.update(merge)

    def append_audit(self, records: Sequence[Mapping[str, Any]], now: float) -> None:
        horizon = iso(now - self.audit_retention_days * 86_400) or ""

        def merge(doc: dict[str, Any]) -> dict[str, Any]:
            kept = [r for r in doc.get("records", []) if isinstance(r, Mapping) and str(r.get("time", "")) >= horizon]
            expired = len(doc.get("records", [])) - len(kept)
            _selfmon.dropped("alerts", "audit_retention", expired)
            kept.extend(records)
            if len(kept) > self.max_audit_records:
                _selfmon.dropped("alerts", "audit_cap", len(kept) - self.max_audit_records)
                kept = kept[-self.max_audit_records:]
            doc["records"] = kept
            return doc

        self.audit.update(merge)

    def read_audit(self) -> list[dict[str, Any]]:
        return list(self.audit.read().get("records", []))


def load_secrets(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """``{channel_name: {config key: secret}}`` from a JSON file that only its owner can read.

    Refused (``ValueError``) when group or others may read it, or it is not an object of objects.
    """
    path = Path(path)
    st = os.stat(path)
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"secrets_file {str(path)!r} is readable by group or others "
                         f"(mode {stat.S_IMODE(st.st_mode):04o}); run `chmod 600 {path}`")
    data = json.loads(path.read_text("utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"secrets_file {str(path)!r} must hold {{channel_name: {{key: value}}}}")
    return data


def record_time(record: Mapping[str, Any]) -> float | None:
    """An audit record's time in seconds."""
    return parse_iso(record.get("time"))
