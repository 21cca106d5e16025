"""The engine's records: alerts, incidents and silences, their fingerprints and their stored form.

Fingerprints are Prometheus' label-set fingerprint (FNV-1a 64 over the sorted
label pairs), so an alert we push to Alertmanager has the same fingerprint
there. They are computed from identifying labels only (``alertname``,
``severity`` and the series' labels), never from the value.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._model import AlertState

__all__ = ["Alert", "Incident", "Silence", "fingerprint", "iso", "parse_iso"]

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1
_SEPARATOR = 0xFF


def fingerprint(labels: Mapping[str, str]) -> str:
    """Prometheus' ``LabelSet.Fingerprint()`` as 16 hex digits (what Alertmanager shows)."""
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode("utf-8"):
                h = ((h ^ byte) * _FNV_PRIME) & _MASK
            h = ((h ^ _SEPARATOR) * _FNV_PRIME) & _MASK
    return f"{h:016x}"


def iso(seconds: float | None) -> str | None:
    """RFC 3339 UTC with milliseconds (what Alertmanager's API accepts)."""
    if seconds is None:
        return None
    whole = int(seconds)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((seconds - whole) * 1000):03d}Z"


def parse_iso(text: str | None) -> float | None:
    """Inverse of ``iso`` (None stays None)."""
    if not text:
        return None
    main, _, rest = text.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S"))
    return seconds + (int(rest[:3].ljust(3, "0")) / 1000 if rest else 0.0)


@dataclass(eq=False)
class Alert:
    """One alert of one rule on one series."""

    alert_id: str
    rule_id: str
    labels: dict[str, str]
    fingerprint: str
    state: AlertState
    value: float
    started_at: float
    updated_at: float
    incident_id: str = ""
    fired_at: float | None = None
    ended_at: float | None = None
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    resolved_by: str | None = None
    suppressed_until: float | None = None
    suppressed_from: AlertState | None = None
    silenced_by: list[str] = field(default_factory=list)
    clear_since: float | None = None
    notified_state: str | None = None     # "firing" once a firing notice left; "resolved" after
    last_notified_at: float | None = None
    notifications: int = 0
    flapping: bool = False
    alertmanager_sent_at: float | None = None

    @property
    def active(self) -> bool:
        return self.state is not AlertState.RESOLVED

    def to_dict(self, rule: Mapping[str, Any] | None) -> dict[str, Any]:
        """The public and stored form (times as RFC 3339; the rule's name, metric and severity copied in)."""
        rule = rule or {}
        return {
            "alert_id": self.alert_id, "rule_id": self.rule_id, "name": rule.get("name", self.rule_id),
            "metric": rule.get("metric", ""), "condition": rule.get("condition", ""),
            "statistic": rule.get("statistic", "value"),
            "state": self.state.value, "severity": rule.get("severity", "low"), "value": self.value,
            "labels": dict(self.labels), "fingerprint": self.fingerprint, "incident_id": self.incident_id,
            "started_at": iso(self.started_at), "fired_at": iso(self.fired_at), "updated_at": iso(self.updated_at),
            "ended_at": iso(self.ended_at), "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": iso(self.acknowledged_at), "resolved_by": self.resolved_by,
            "suppressed_until": iso(self.suppressed_until),
            "suppressed_from": self.suppressed_from.value if self.suppressed_from else None,
            "silenced_by": list(self.silenced_by), "notified_state": self.notified_state,
            "last_notified_at": iso(self.last_notified_at), "notifications": self.notifications,
            "flapping": self.flapping, "description": rule.get("description", ""),
            "annotations": dict(rule.get("annotations", {})),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        return cls(
            alert_id=data["alert_id"], rule_id=data["rule_id"], labels=dict(data.get("labels", {})),
            fingerprint=data["fingerprint"], state=AlertState(data["state"]), value=float(data.get("value", 0.0)),
            started_at=parse_iso(data["started_at"]) or 0.0, updated_at=parse_iso(data.get("updated_at")) or 0.0,
            incident_id=data.get("incident_id", ""), fired_at=parse_iso(data.get("fired_at")),
            ended_at=parse_iso(data.get("ended_at")), acknowledged_by=data.get("acknowledged_by"),
            acknowledged_at=parse_iso(data.get("acknowledged_at")), resolved_by=data.get("resolved_by"),
            suppressed_until=parse_iso(data.get("suppressed_until")),
            suppressed_from=AlertState(data["suppressed_from"]) if data.get("suppressed_from") else None,
            silenced_by=list(data.get("silenced_by", [])), notified_state=data.get("notified_state"),
            last_notified_at=parse_iso(data.get("last_notified_at")),
            notifications=int(data.get("notifications", 0)), flapping=bool(data.get("flapping", False)),
        )


@dataclass(eq=False)
class Incident:
    """Related alerts (same rule and ``group_by`` label values) under one stable fingerprint."""

    incident_id: str
    fingerprint: str
    rule_id: str
    group_labels: dict[str, str]
    severity: str
    opened_at: float
    updated_at: float
    status: str = "open"
    resolved_at: float | None = None
    alert_ids: list[str] = field(default_factory=list)
    active_alerts: set[str] = field(default_factory=set)
    reopened: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id, "fingerprint": self.fingerprint, "rule_id": self.rule_id,
            "group_labels": dict(self.group_labels), "severity": self.severity, "status": self.status,
            "opened_at": iso(self.opened_at), "updated_at": iso(self.updated_at),
            "resolved_at": iso(self.resolved_at), "alert_ids": list(self.alert_ids),
            "active_alert_ids": sorted(self.active_alerts), "reopened": self.reopened,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Incident:
        return cls(
            incident_id=data["incident_id"], fingerprint=data["fingerprint"], rule_id=data["rule_id"],
            group_labels=dict(data.get("group_labels", {})), severity=data.get("severity", "low"),
            opened_at=parse_iso(data["opened_at"]) or 0.0, updated_at=parse_iso(data.get("updated_at")) or 0.0,
            status=data.get("status", "open"), resolved_at=parse_iso(data.get("resolved_at")),
            alert_ids=list(data.get("alert_ids", [])), active_alerts=set(data.get("active_alert_ids", [])),
            reopened=int(data.get("reopened", 0)),
        )


@dataclass(eq=False)
class Silence:
    """Label matchers (exact values) that hold notifications of matching alerts until ``ends_at``."""

    silence_id: str
    matchers: dict[str, str]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str = ""

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.matchers.items())

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def to_dict(self) -> dict[str, Any]:
        return {"silence_id": self.silence_id, "matchers": dict(self.matchers), "starts_at": iso(self.starts_at),
                "ends_at": iso(self.ends_at), "created_by": self.created_by, "comment": self.comment}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Silence:
        return cls(silence_id=data["silence_id"], matchers=dict(data["matchers"]),
                   starts_at=parse_iso(data["starts_at"]) or 0.0, ends_at=parse_iso(data["ends_at"]) or 0.0,
                   created_by=data.get("created_by", ""), comment=data.get("comment", ""))
