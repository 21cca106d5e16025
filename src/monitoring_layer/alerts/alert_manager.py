"""``AlertManager``: threshold rules evaluated on metric readings, incidents, silences and notifications.

The engine subscribes to a ``ReadingsHub`` and evaluates every rule on each
collection's readings (``evaluate_and_trigger`` is the manual path). State
changes are decided here, under one lock, with the injected clock; the
notifications they cause are handed to a ``Dispatcher`` (bounded queue and
sender thread), so evaluation never waits on a receiver. Every change is
written through to ``alerts/*.json`` and recorded in the audit log.

See ``docs/alerts.md`` for the state machine and the choices made.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from monitoring_layer import _lifecycle, _selfmon
from monitoring_layer._encode import report_path, write_report
from monitoring_layer._safe import safe_text
from monitoring_layer.config import get_settings
from monitoring_layer.readings import MetricReading, ReadingsHub

from ._channels import NotificationChannel
from ._delivery import Dispatcher
from ._files import AlertFiles, load_secrets
from ._engine import SEVERITY_ORDER as _SEVERITY_ORDER
from ._model import AlertRule, AlertState, Severity
from ._persistence import PersistentEngine
from ._promrules import render_rules
from ._senders import Attempt, Notification, Transport, UrllibTransport, send
from ._state import Alert, Silence, iso

__all__ = ["AlertManager"]

_log = logging.getLogger("monitoring_layer.alerts")


class _Collector(Protocol):
    def prometheus_name(self, name: str) -> str: ...


class _Logs(Protocol):
    def log(self, level: str, component: str, message: Any, **fields: Any) -> None: ...


class AlertManager(PersistentEngine):
    """Alert rules, their alerts and incidents, silences, and notification channels.

    Collaborators are arguments (all optional): ``metrics_collector`` (for
    ``export_prometheus_rules``' names and units), ``readings`` (the hub whose
    collections are evaluated automatically), ``clock`` (seconds since the
    epoch; tests inject one), ``transport`` (HTTP), ``home`` (where
    ``alerts/*.json`` live; default ``MONITORING_HOME``), ``log_aggregator``
    (for ``log`` channels) and ``secrets_file`` (a 0600 JSON file
    ``{channel: {key: secret}}`` for channels reloaded from ``rules.json``).
    """

    def __init__(
        self,
        metrics_collector: _Collector | None = None,
        *,
        readings: ReadingsHub | None = None,
        clock: Callable[[], float] | None = None,
        transport: Transport | None = None,
        home: str | os.PathLike[str] | None = None,
        log_aggregator: _Logs | None = None,
        secrets_file: str | os.PathLike[str] | None = None,
        smtp_factory: Callable[..., Any] | None = None,
        max_queue: int = 1_000,
        max_attempts: int = 5,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 60.0,
        flush_timeout_s: float = 5.0,
        flap_window_s: float = 600.0,
        flap_threshold: int = 4,
        max_active_alerts: int = 10_000,
        max_history: int = 1_000,
        max_incidents: int = 10_000,
        max_audit_records: int = 10_000,
        audit_retention_days: float = 30.0,
        rng: Callable[[], float] | None = None,
    ) -> None:
        if readings is not None and not isinstance(readings, ReadingsHub):
            raise TypeError(f"readings must be a ReadingsHub, not {type(readings).__name__}")
        if flap_threshold < 1 or flap_window_s <= 0:
            raise ValueError("flap_threshold must be >= 1 and flap_window_s > 0")
        self.metrics_collector = metrics_collector
        self.log_aggregator = log_aggregator
        self._clock = clock or time.time
        self._transport: Transport = transport or UrllibTransport()
        self._smtp_factory = smtp_factory
        self.flush_timeout_s = flush_timeout_s
        self.flap_window_s = flap_window_s
        self.flap_threshold = flap_threshold
        self.max_active_alerts = max_active_alerts
        self._secrets = load_secrets(secrets_file) if secrets_file is not None else {}

        self._init_state(max_history=max_history, max_incidents=max_incidents)

        self.home = Path(home) if home is not None else get_settings().home
        self._files = AlertFiles(self.home, max_incidents=max_incidents, max_alerts=max_active_alerts,
                                 max_audit_records=max_audit_records, audit_retention_days=audit_retention_days)
        self._dispatcher = Dispatcher(self._send, self._on_result, max_queue=max_queue, max_attempts=max_attempts,
                                      backoff_base_s=backoff_base_s, backoff_max_s=backoff_max_s,
                                      rng=rng or random.random)
        self._reload()
        self._hub = readings
        self._unsubscribe = readings.subscribe(self._on_readings) if readings is not None else None
        self._unregister = _lifecycle.register("alerts", after_fork_child=self._after_fork_child,
                                               flush=self._flush_hook, shutdown=self.close)

    # ================================================================ registration

    def register_channel(self, channel: NotificationChannel) -> dict[str, Any]:
        """Add (or replace) a notification channel; returns its redacted description."""
        if not isinstance(channel, NotificationChannel):
            raise TypeError(f"channel must be a NotificationChannel, not {type(channel).__name__}")
        with self._lock:
            replaced = channel.channel_name in self._channels
            self._channels[channel.channel_name] = channel
            self._dirty_rules = True
            self._audit("channel_updated" if replaced else "channel_registered", channel=channel.channel_name,
                        details={"channel_type": channel.channel_type})
        self._persist()
        return channel.redacted()

    def register_rule(self, rule: AlertRule) -> dict[str, Any]:
        """Add (or replace, by ``rule_id``) a rule; its channels must be registered. Returns the rule as stored."""
        if not isinstance(rule, AlertRule):
            raise TypeError(f"rule must be an AlertRule, not {type(rule).__name__}")
        with self._lock:
            for name in rule.notification_channels:
                if name not in self._channels:
                    raise ValueError(f"notification_channels: channel {name!r} is not registered "
                                     f"(register_channel() it first; known: {sorted(self._channels)})")
            replaced = rule.rule_id in self._rules
            self._put_rule(rule)
            self._dirty_rules = True
            self._audit("rule_updated" if replaced else "rule_registered", rule_id=rule.rule_id,
                        details=self._rule_dicts[rule.rule_id])
        self._persist()
        return dict(self._rule_dicts[rule.rule_id])

    def remove_rule(self, rule_id: str, removed_by: str = "") -> None:
        """Remove a rule; its active alerts are resolved. Unknown ``rule_id``: ``KeyError``."""
        if not isinstance(rule_id, str):
            raise TypeError(f"rule_id must be a string, not {type(rule_id).__name__}")
        now = self._clock()
        with self._lock:
            if rule_id not in self._rules:
                raise KeyError(f"rule_id {rule_id!r} is not registered")
            for alert in [a for a in self._active.values() if a.rule_id == rule_id]:
                self._resolve(alert, now, by=removed_by or "rule removed")
            del self._rules[rule_id]
            self._index.rebuild(self._rules)
            self._audit("rule_removed", rule_id=rule_id, actor=removed_by)
            self._removed_rules.append(rule_id)
            self._dirty_rules = True
        self._persist()

    def get_rules(self) -> list[dict[str, Any]]:
        """Every rule as stored."""
        with self._lock:
            return [dict(d) for d in self._rule_dicts.values() if d["rule_id"] in self._rules]

    def get_channels(self) -> list[dict[str, Any]]:
        """Every channel, redacted (secrets never leave the manager)."""
        with self._lock:
            return [c.redacted() for c in self._channels.values()]

    # ================================================================ evaluation

    def _on_readings(self, readings: Sequence[MetricReading]) -> None:
        """A collection's readings (the hub calls this on the collecting thread): evaluate, then write."""
        if self._closed:
            return
        self._evaluate_readings(readings)
        self._persist()

    def evaluate_and_trigger(self, metric: str, value: float, labels: Mapping[str, Any] | None = None
                             ) -> list[dict[str, Any]]:
        """Evaluate every rule on ``metric`` against ``value`` (for series ``labels``).

        The value is taken as the rule's statistic. Returns the alerts this call
        created or changed (as dicts).
        """
        if not isinstance(metric, str):
            raise TypeError(f"metric must be a string, not {type(metric).__name__}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"value must be a number, not {type(value).__name__}")
        if isinstance(value, int) and not -sys.float_info.max <= value <= sys.float_info.max:
            raise ValueError("value must be within the float range, got an integer of "
                             f"{len(str(abs(value)))} digits")
        if labels is not None and not isinstance(labels, Mapping):
            raise TypeError(f"labels must be a mapping of label names to values or None, not {type(labels).__name__}")
        series = {str(k): str(v) for k, v in (labels or {}).items()}
        key = tuple(sorted(series.items()))
        now = self._clock()
        changed: list[Alert] = []
        with self._lock:
            self._expire(now)
            for rule in self._index.rules_for(metric, series):
                self._stats["evaluations"] += 1
                alert = self._evaluate(rule, float(value), series, key, now)
                if alert is not None:
                    changed.append(alert)
            result = [a.to_dict(self._rule_dicts.get(a.rule_id)) for a in changed]
        self._persist()
        return result

    def _send(self, notification: Notification) -> Attempt:
        """One attempt (sender thread)."""
        with self._lock:
            channel = self._channels.get(notification.channel)
        if channel is None:
            return Attempt(False, reason="channel not registered")
        attempt = send(channel, notification, transport=self._transport, log=self._log_line,
                       smtp_factory=self._smtp_factory)
        if attempt.reason:
            attempt = Attempt(attempt.delivered, attempt.retry, attempt.retry_after_s, attempt.status,
                              channel.scrub(attempt.reason))
        return attempt

    def _on_result(self, notification: Notification, number: int, attempt: Attempt, final: bool) -> None:
        """Every attempt's outcome (sender thread): counted and recorded in the audit log."""
        if attempt.delivered:
            result = "delivered"
        elif final:
            result = "failed"
        else:
            result = "retrying"
        with self._lock:
            key = {"delivered": "notifications_sent", "failed": "notifications_failed",
                   "retrying": "notifications_retried"}[result]
            self._stats[key] += 1
            first = notification.alerts[0] if notification.alerts else {}
            self._audit("notification", channel=notification.channel, rule_id=first.get("rule_id", ""),
                        alert_id=first.get("alert_id", ""), fp=first.get("fingerprint", ""),
                        incident_id=first.get("incident_id", ""), details={
                            "kind": notification.kind, "attempt": number, "result": result,
                            "status": attempt.status, "reason": attempt.reason,
                            "retry_after_s": attempt.retry_after_s,
                            "alert_ids": [a.get("alert_id") for a in notification.alerts]})
        if result == "failed":  # counted, and logged once per channel (the audit log has each one)
            _selfmon.fault("alert_delivery", f"notification to channel {notification.channel!r} failed after "
                           f"{number} attempt(s): {attempt.reason}", key=notification.channel, strict=False)
        self._persist()

    def _log_line(self, level: str, component: str, message: str, alert: Mapping[str, Any]) -> None:
        fields = {"alert_id": alert["alert_id"], "rule_id": alert["rule_id"], "severity": alert["severity"],
                  "state": alert["state"], "value": alert["value"], "fingerprint": alert["fingerprint"]}
        if self.log_aggregator is not None:
            self.log_aggregator.log(level, component, message, **fields)
        else:
            _log.log(logging.getLevelName(level), "%s %s", message, fields)

    # ================================================================ management

    def _get(self, alert_id: str) -> Alert:
        alert = self._by_id.get(alert_id) if isinstance(alert_id, str) else None
        if alert is None:
            alert = next((a for a in self._history if a.alert_id == alert_id), None)
        if alert is None:
            raise KeyError(f"alert_id {alert_id!r} is unknown")
        return alert

    def acknowledge_alert(self, alert_id: str, acknowledged_by: str) -> dict[str, Any]:
        """Stop repeat notifications of a firing alert (the resolved notice still goes out)."""
        now = self._clock()
        with self._lock:
            alert = self._get(alert_id)
            if alert.state not in (AlertState.TRIGGERED, AlertState.ACKNOWLEDGED, AlertState.SUPPRESSED):
                raise ValueError(f"alert_id {alert_id!r} is {alert.state.value}; only a firing alert can be "
                                 "acknowledged")
            alert.acknowledged_by = str(acknowledged_by)
            alert.acknowledged_at = now
            self._dirty_alerts.add(alert.alert_id)
            self._audit("acknowledged", alert=alert, actor=str(acknowledged_by))
            if alert.state is AlertState.SUPPRESSED:
                alert.suppressed_from = AlertState.ACKNOWLEDGED  # acknowledged once the suppression ends
            elif alert.state is AlertState.TRIGGERED:
                self._transition(alert, AlertState.ACKNOWLEDGED, now, reason="acknowledged",
                                 actor=str(acknowledged_by))
            result = alert.to_dict(self._rule_dicts.get(alert.rule_id))
        self._persist()
        return result

    def resolve_alert(self, alert_id: str, resolved_by: str) -> dict[str, Any]:
        """Resolve an alert by hand (if the condition still holds, the next evaluation opens a new one)."""
        now = self._clock()
        with self._lock:
            alert = self._get(alert_id)
            if alert.active:
                self._resolve(alert, now, by=str(resolved_by))
            result = alert.to_dict(self._rule_dicts.get(alert.rule_id))
        self._persist()
        return result

    def suppress_alert(self, alert_id: str, duration_minutes: float = 60) -> dict[str, Any]:
        """Hold an alert's notifications for ``duration_minutes``; then it goes back to its state."""
        _check_minutes(duration_minutes)
        now = self._clock()
        with self._lock:
            alert = self._get(alert_id)
            if alert.state not in (AlertState.TRIGGERED, AlertState.ACKNOWLEDGED, AlertState.SUPPRESSED):
                raise ValueError(f"alert_id {alert_id!r} is {alert.state.value}; only a firing alert can be "
                                 "suppressed")
            self._suppress(alert, now + duration_minutes * 60, now,
                           reason=f"suppressed for {duration_minutes:g} min")
            result = alert.to_dict(self._rule_dicts.get(alert.rule_id))
        self._persist()
        return result

    def add_silence(self, matchers: Mapping[str, str], duration_minutes: float, created_by: str,
                    comment: str = "") -> dict[str, Any]:
        """Hold notifications of every alert whose labels (``alertname`` = rule id, ``severity``, series
        labels) carry all ``matchers`` (exact values), for ``duration_minutes``. Returns the silence."""
        if not isinstance(matchers, Mapping) or not matchers:
            raise ValueError("matchers must be a non-empty mapping of label name to value")
        _check_minutes(duration_minutes)
        now = self._clock()
        silence = Silence(silence_id=str(uuid.uuid4()), matchers={str(k): str(v) for k, v in matchers.items()},
                          starts_at=now, ends_at=now + duration_minutes * 60, created_by=str(created_by),
                          comment=str(comment))
        with self._lock:
            self._silences[silence.silence_id] = silence
            if len(self._silences) > 10_000:  # bounded: expired silences go first, then the oldest
                expired = [i for i, s in self._silences.items() if s.ends_at <= now] or list(self._silences)[:1]
                for silence_id in expired[: len(self._silences) - 10_000]:
                    del self._silences[silence_id]
                    _selfmon.dropped("alerts", "silences")
            self._dirty_silences = True
            self._audit("silence_added", actor=silence.created_by, details=silence.to_dict())
            for alert in list(self._active.values()):
                if alert.state in (AlertState.TRIGGERED, AlertState.ACKNOWLEDGED) \
                        and silence.matches(self._prom_labels(alert)):
                    alert.silenced_by = [silence.silence_id]
                    self._suppress(alert, None, now, reason=f"silenced by {silence.silence_id}")
        self._persist()
        return silence.to_dict()

    def get_silences(self, include_expired: bool = False) -> list[dict[str, Any]]:
        """Silences (by default only those still in force)."""
        now = self._clock()
        with self._lock:
            return [s.to_dict() for s in self._silences.values() if include_expired or s.ends_at > now]

    # ================================================================ queries

    def get_active_alerts(self) -> list[dict[str, Any]]:
        """Alerts that are not resolved (pending, triggered, acknowledged, suppressed), most severe first."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            alerts = sorted(self._active.values(), key=lambda a: (
                -_SEVERITY_ORDER.get(self._rule_dicts.get(a.rule_id, {}).get("severity", "low"), 0), a.started_at))
            return [a.to_dict(self._rule_dicts.get(a.rule_id)) for a in alerts]

    def get_alerts_by_severity(self, severity: Severity | str) -> list[dict[str, Any]]:
        """Active alerts of one severity (case-insensitive: ``"CRITICAL"`` works)."""
        wanted = Severity.parse(severity, "severity").value
        return [a for a in self.get_active_alerts() if a["severity"] == wanted]

    def get_alert(self, alert_id: str) -> dict[str, Any]:
        """One alert, active or recent; unknown ``alert_id``: ``KeyError``."""
        with self._lock:
            alert = self._get(alert_id)
            return alert.to_dict(self._rule_dicts.get(alert.rule_id))

    def get_alert_history(self, limit: int = 100) -> list[dict[str, Any]]:
        """Recently resolved alerts, newest first."""
        _check_limit(limit)
        with self._lock:
            return [a.to_dict(self._rule_dicts.get(a.rule_id)) for a in list(self._history)[::-1][:limit]]

    def get_open_incidents(self) -> list[dict[str, Any]]:
        """Incidents with at least one active alert, newest first."""
        with self._lock:
            return [i.to_dict() for i in reversed(self._incidents.values()) if i.status == "open"]

    def get_incidents(self) -> list[dict[str, Any]]:
        """Every incident kept (open and resolved), newest first."""
        with self._lock:
            return [i.to_dict() for i in reversed(self._incidents.values())]

    def get_alert_statistics(self) -> dict[str, Any]:
        """Totals: alerts by state and severity, open incidents, notifications sent/failed, and more."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            alerts = list(self._active.values()) + list(self._history)
            by_state = {s.value: 0 for s in AlertState}
            by_severity = {s.value: 0 for s in Severity}
            for alert in alerts:
                by_state[alert.state.value] += 1
                by_severity[self._rule_dicts.get(alert.rule_id, {}).get("severity", "low")] += 1
            active_by_severity = {s.value: 0 for s in Severity}
            for alert in self._active.values():
                active_by_severity[self._rule_dicts.get(alert.rule_id, {}).get("severity", "low")] += 1
            return {
                "total": len(alerts), "total_created": self._stats["created"], "active": len(self._active),
                **{state: n for state, n in by_state.items()}, "by_state": by_state,
                "by_severity": by_severity, "active_by_severity": active_by_severity,
                "open_incidents": sum(1 for i in self._incidents.values() if i.status == "open"),
                "incidents": len(self._incidents), "rules": len(self._rules), "channels": len(self._channels),
                "silences_active": sum(1 for s in self._silences.values() if s.active(now)),
                "notifications_pending": self._dispatcher.pending(),
                **self._stats,
            }

    def export_incidents(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """Write incidents, active alerts and recent history to ``path`` (JSON, atomically); returns it."""
        with self._lock:
            report: dict[str, Any] = {"exported_at": iso(self._clock()), "incidents": [i.to_dict() for i in self._incidents.values()],
                      "active_alerts": [a.to_dict(self._rule_dicts.get(a.rule_id)) for a in self._active.values()],
                      "resolved_alerts": [a.to_dict(self._rule_dicts.get(a.rule_id)) for a in self._history],
                      "statistics": None}
        report["statistics"] = self.get_alert_statistics()
        target = report_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_report(target, report)
        return report

    def export_prometheus_rules(self, path: str | os.PathLike[str], *, group: str = "monitoring-layer",
                                rate_window: str = "5m") -> str:
        """Write the threshold rules as a Prometheus alerting-rules file; returns its text.

        Names and thresholds are translated to the exposition's base units
        (``request_latency`` in ms ``> 500`` becomes ``request_latency_seconds > 0.5``).
        """
        target = report_path(path)
        for argument, value in (("group", group), ("rate_window", rate_window)):
            if not isinstance(value, str):
                raise TypeError(f"{argument} must be a string, not {type(value).__name__}")
            if not value.strip():
                raise ValueError(f"{argument} must not be empty")
        with self._lock:
            rules = list(self._rules.values())
            latest = {r.name: r for r in (self._hub.latest() if self._hub is not None else ())}
        text = render_rules(rules, self.metrics_collector, latest, group=group, rate_window=rate_window)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        tmp.write_bytes(safe_text(text).encode("utf-8"))  # a lone surrogate in a rule name: U+FFFD
        os.replace(tmp, target)
        return text

    def get_audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit records (what the file holds plus what is not written yet), newest last."""
        _check_limit(limit)
        self._persist()
        return self._files.read_audit()[-limit:]

    # ================================================================ files

    # ================================================================ lifecycle

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until queued notifications are delivered or given up, then write the files. True if in time."""
        done = self._dispatcher.wait_settled(timeout_s)
        self._persist()
        return done

    def _flush_hook(self) -> None:
        self._dispatcher.wait_attempted(self.flush_timeout_s)
        self._persist()

    def close(self) -> None:
        """Stop evaluating, attempt what is queued once, write the files. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._dispatcher.close(self.flush_timeout_s)
        self._persist()
        self._unregister()

    def _after_fork_child(self) -> None:
        self._lock = threading.RLock()
        self._io_lock = threading.Lock()
        self._dispatcher.after_fork_child()


#: The longest suppression or silence: ten years (a timestamp stays a four-digit-year RFC 3339 time).
MAX_DURATION_MINUTES = 10 * 366 * 24 * 60


def _check_minutes(duration_minutes: object) -> None:
    """``duration_minutes`` must be a positive finite number of at most ten years' minutes."""
    if isinstance(duration_minutes, bool) or not isinstance(duration_minutes, (int, float)) \
            or not 0 < duration_minutes <= MAX_DURATION_MINUTES:  # nan and inf fail this too
        raise ValueError(f"duration_minutes must be a positive number of minutes, at most {MAX_DURATION_MINUTES:,} "
                         f"(ten years), not {duration_minutes!r:.40}")


def _check_limit(limit: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limit must be a non-negative integer, not {limit!r:.40}")
