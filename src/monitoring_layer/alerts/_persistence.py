"""Write-through of the engine's state to ``alerts/*.json``, and its reload at start.

``PersistentEngine._persist()`` takes what changed since the last write (under
the engine's lock) and writes it through the shared store outside that lock,
one write per file per call. ``_reload()`` restores rules, channels (secrets
only from the user's secrets file), incidents, active alerts and silences.
"""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import Any

from monitoring_layer import _selfmon

from ._channels import NotificationChannel
from ._engine import AlertEngine
from ._files import AlertFiles
from ._model import ACTIVE_STATES, AlertRule, AlertState
from ._state import Alert, Incident, Silence

__all__ = ["PersistentEngine"]


class PersistentEngine(AlertEngine):
    """An ``AlertEngine`` whose state is written through to files and reloaded from them."""

    home: Path
    _files: AlertFiles
    _io_lock: threading.Lock
    _secrets: dict[str, dict[str, Any]]

    def _persist(self) -> None:
        """Write what changed since the last write (called after every public operation)."""
        with self._lock:
            audit, self._audit_pending = self._audit_pending, []
            rules = channels = None
            removed: list[str] = []
            if self._dirty_rules:
                rules = [self._rule_dicts[r] for r in self._rules]
                channels = [c.redacted() for c in self._channels.values()]
                removed, self._removed_rules = self._removed_rules, []
                self._dirty_rules = False
            incidents = alerts = silences = None
            if self._dirty_incidents or self._dirty_alerts or self._dirty_silences:
                incidents = [self._incidents[i].to_dict() for i in self._dirty_incidents if i in self._incidents]
                alerts = [a.to_dict(self._rule_dicts.get(a.rule_id)) for a in
                          (self._by_id.get(i) or next((h for h in self._history if h.alert_id == i), None)
                           for i in self._dirty_alerts) if a is not None]
                silences = [s.to_dict() for s in self._silences.values()]
                self._dirty_incidents, self._dirty_alerts, self._dirty_silences = set(), set(), False
            now = self._clock()
        if not audit and rules is None and incidents is None:
            return
        with self._io_lock:
            try:
                if rules is not None and channels is not None:
                    self._files.write_rules(rules, channels, removed)
                if incidents is not None and alerts is not None and silences is not None:
                    self._files.write_incidents(incidents, alerts, silences)
                if audit:
                    self._files.append_audit(audit, now)
            except OSError as exc:
                _selfmon.fault("alerts", exc, key=f"alert files in {self.home}")

    def _reload(self) -> None:
        """Rules, channels (secrets from ``secrets_file`` only), open incidents, active alerts, silences."""
        rules_doc, incidents_doc = self._files.load()
        now = self._clock()
        for data in rules_doc.get("channels", []):
            try:
                config = dict(data.get("config", {}))
                config.update(self._secrets.get(data["channel_name"], {}))
                channel = NotificationChannel(data["channel_type"], data["channel_name"], config,
                                              enabled=bool(data.get("enabled", True)))
            except (KeyError, TypeError, ValueError) as exc:
                _selfmon.fault("alerts", f"stored channel {data.get('channel_name')!r} skipped: {exc}",
                               key="reload channel", strict=False)
                continue
            self._channels[channel.channel_name] = channel
        for data in rules_doc.get("rules", []):
            try:
                self._put_rule(AlertRule.from_dict(data))
            except (KeyError, TypeError, ValueError) as exc:
                _selfmon.fault("alerts", f"stored rule {data.get('rule_id')!r} skipped: {exc}",
                               key="reload rule", strict=False)
        for data in incidents_doc.get("incidents", []):
            try:
                incident = Incident.from_dict(data)
            except (KeyError, TypeError, ValueError):
                continue
            self._incidents[incident.incident_id] = incident
            self._incident_by_fp[incident.fingerprint] = incident
        for data in incidents_doc.get("silences", []):
            try:
                silence = Silence.from_dict(data)
            except (KeyError, TypeError, ValueError):
                continue
            if silence.ends_at > now:
                self._silences[silence.silence_id] = silence
        for data in incidents_doc.get("alerts", []):
            try:
                alert = Alert.from_dict(data)
            except (KeyError, TypeError, ValueError):
                continue
            if alert.state in ACTIVE_STATES and alert.rule_id in self._rules:
                self._active[(alert.rule_id, tuple(sorted(alert.labels.items())))] = alert
                self._by_id[alert.alert_id] = alert
                if alert.state is AlertState.SUPPRESSED:
                    self._suppressed.add(alert.alert_id)
                if alert.last_notified_at is not None:
                    self._last_notice[alert.fingerprint] = alert.last_notified_at
            elif alert.state is AlertState.RESOLVED:
                self._history.append(alert)
        self._history = deque(sorted(self._history, key=lambda a: a.updated_at), maxlen=self._history.maxlen)
