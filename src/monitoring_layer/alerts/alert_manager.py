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
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from monitoring_layer import _lifecycle, _selfmon
from monitoring_layer.config import get_settings
from monitoring_layer.exporters._store import JsonFileStore
from monitoring_layer.readings import MetricReading, ReadingsHub, reading_statistic

from ._channels import NotificationChannel
from ._delivery import Dispatcher
from ._files import AlertFiles, load_secrets
from ._model import ACTIVE_STATES, AlertRule, AlertState, Severity
from ._payloads import prom_labels
from ._promrules import render_rules
from ._rules_index import RuleIndex
from ._senders import Attempt, Notification, Transport, UrllibTransport, send
from ._state import Alert, Incident, Silence, fingerprint, iso

__all__ = ["AlertManager"]

_log = logging.getLogger("monitoring_layer.alerts")
_SEVERITY_ORDER = {s.value: i for i, s in enumerate(Severity)}


class _Collector(Protocol):
    def prometheus_name(self, name: str) -> str: ...


class _Logs(Protocol):
    def log(self, level: str, component: str, message: Any, **fields: Any) -> None: ...


class AlertManager:
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

        self._lock = threading.RLock()
        self._io_lock = threading.Lock()
        self._rules: dict[str, AlertRule] = {}
        self._rule_dicts: dict[str, dict[str, Any]] = {}
        self._index = RuleIndex()
        self._channels: dict[str, NotificationChannel] = {}
        self._active: dict[tuple[str, tuple[tuple[str, str], ...]], Alert] = {}
        self._by_id: dict[str, Alert] = {}
        self._history: deque[Alert] = deque(maxlen=max_history)
        self._incidents: OrderedDict[str, Incident] = OrderedDict()
        self._incident_by_fp: dict[str, Incident] = {}
        self.max_incidents = max_incidents
        self._silences: dict[str, Silence] = {}
        self._suppressed: set[str] = set()
        self._last_notice: OrderedDict[str, float] = OrderedDict()
        self._flaps: OrderedDict[str, deque[float]] = OrderedDict()
        self._rates: dict[tuple[Any, ...], tuple[float, float]] = {}
        self._audit_pending: list[dict[str, Any]] = []
        self._removed_rules: list[str] = []
        self._dirty_rules = False
        self._dirty_incidents: set[str] = set()
        self._dirty_alerts: set[str] = set()
        self._dirty_silences = False
        self._stats = {"created": 0, "evaluations": 0, "notifications_sent": 0, "notifications_failed": 0,
                       "notifications_dropped": 0, "notifications_retried": 0, "flapping_damped": 0,
                       "held_by_cooldown": 0}
        self._closed = False

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

    def _put_rule(self, rule: AlertRule) -> None:
        self._rules[rule.rule_id] = rule
        self._rule_dicts[rule.rule_id] = rule.to_dict()
        self._index.rebuild(self._rules)

    # ================================================================ evaluation

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

    def _on_readings(self, readings: Sequence[MetricReading]) -> None:
        """A collection's readings (called by the hub on the collecting thread)."""
        if self._closed:
            return
        now = self._clock()
        index = self._index
        evaluations = 0
        with self._lock:
            self._expire(now)
            for reading in readings:
                if not index.has(reading.name):
                    continue
                key: tuple[tuple[str, str], ...] | None = None
                rate: float | None = None
                rate_done = False
                for rule in index.rules_for(reading.name, reading.labels):
                    statistic = rule.statistic
                    if statistic == "value":
                        value: float | None = reading.value
                    elif statistic == "rate":
                        if not rate_done:
                            rate, rate_done = self._rate(reading, now), True
                        value = rate
                    else:
                        value = reading_statistic(reading, statistic)
                    if value is None:
                        continue
                    evaluations += 1
                    if key is None:
                        key = tuple(sorted(reading.labels.items()))
                    self._evaluate(rule, value, reading.labels, key, now)
            self._stats["evaluations"] += evaluations
            self._resend_alertmanager(now)
        self._persist()

    def _rate(self, reading: MetricReading, now: float) -> float | None:
        """Per-second increase of a cumulative series since its previous reading (a reset counts from 0)."""
        t = reading.timestamp_ns / 1e9 if reading.timestamp_ns else now
        series = (reading.name, tuple(sorted(reading.labels.items())), reading.source)
        previous = self._rates.get(series)
        if previous is None and len(self._rates) >= 100_000:
            _selfmon.dropped("alerts", "rate_series")
            return None
        self._rates[series] = (reading.value, t)
        if previous is None or t <= previous[1]:
            return None
        increase = reading.value - previous[0] if reading.value >= previous[0] else reading.value
        return increase / (t - previous[1])

    def _evaluate(self, rule: AlertRule, value: float, labels: Mapping[str, str],
                  key: tuple[tuple[str, str], ...], now: float) -> Alert | None:
        """One rule on one series; returns the alert when its state changed."""
        alert = self._active.get((rule.rule_id, key))
        if alert is None:
            if not rule.compare(value, rule.threshold):
                return None  # the common case: nothing firing, nothing to do
            return self._create(rule, value, labels, key, now)
        alert.value = value
        if alert.state is AlertState.PENDING:
            if rule.compare(value, rule.threshold):
                if now - alert.started_at >= rule.for_s:
                    self._fire(alert, rule, now)
                    return alert
                return None
            # Cleared before for_s: never fired, nothing to tell anyone.
            self._transition(alert, AlertState.RESOLVED, now, reason="cleared while pending")
            self._retire(alert, now)
            return alert
        if rule.still_firing(value):
            alert.clear_since = None
            self._dirty_alerts.add(alert.alert_id)
            self._maybe_notify_firing(alert, rule, now)
            return None
        if alert.clear_since is None:
            alert.clear_since = now
        if now - alert.clear_since >= rule.keep_firing_for_s:
            self._resolve(alert, now, by="auto")
            return alert
        return None

    def _create(self, rule: AlertRule, value: float, labels: Mapping[str, str],
                key: tuple[tuple[str, str], ...], now: float) -> Alert | None:
        if len(self._active) >= self.max_active_alerts:
            _selfmon.dropped("alerts", "active_alerts_cap")
            return None
        base = {"rule_id": rule.rule_id, "severity": str(rule.severity), "labels": dict(labels)}
        alert = Alert(alert_id=f"alert_{uuid.uuid4().hex[:16]}", rule_id=rule.rule_id, labels=dict(labels),
                      fingerprint=fingerprint(prom_labels(base)), state=AlertState.PENDING, value=value,
                      started_at=now, updated_at=now)
        self._active[(rule.rule_id, key)] = alert
        self._by_id[alert.alert_id] = alert
        self._stats["created"] += 1
        self._dirty_alerts.add(alert.alert_id)
        if rule.for_s > 0:
            self._audit("state_changed", alert=alert, details={"to": "pending", "value": value})
        else:
            self._fire(alert, rule, now)
        return alert

    def _fire(self, alert: Alert, rule: AlertRule, now: float) -> None:
        alert.fired_at = now
        alert.clear_since = None
        self._transition(alert, AlertState.TRIGGERED, now, reason=f"{rule.metric} {rule.condition}")
        self._join_incident(alert, rule, now)
        self._flap(alert, now)
        silences = [s.silence_id for s in self._silences.values()
                    if s.active(now) and s.matches(self._prom_labels(alert))]
        if silences:
            alert.silenced_by = silences
            self._suppress(alert, None, now, reason=f"silenced by {', '.join(silences)}")
            return
        self._maybe_notify_firing(alert, rule, now)

    def _resolve(self, alert: Alert, now: float, *, by: str) -> None:
        rule = self._rules.get(alert.rule_id)
        was = alert.state
        alert.ended_at = now
        alert.resolved_by = by
        self._suppressed.discard(alert.alert_id)
        self._transition(alert, AlertState.RESOLVED, now, reason=f"resolved by {by}", actor=by)
        if was is not AlertState.PENDING:
            self._flap(alert, now)
        # The resolved notice goes out whenever a firing one did (acknowledged or not), so no receiver is
        # left with a stale firing alert; cooldown and damping never hold it back.
        if alert.notified_state == "firing" and rule is not None:
            self._notify(alert, rule, "resolved", now)
        self._retire(alert, now)

    def _retire(self, alert: Alert, now: float) -> None:
        key = (alert.rule_id, tuple(sorted(alert.labels.items())))
        if self._active.get(key) is alert:
            del self._active[key]
        self._by_id.pop(alert.alert_id, None)
        if len(self._history) == self._history.maxlen:
            _selfmon.dropped("alerts", "history")
        self._history.append(alert)
        incident = self._incidents.get(alert.incident_id)
        if incident is not None:
            incident.active_alerts.discard(alert.alert_id)
            incident.updated_at = now
            if not incident.active_alerts and incident.status == "open":
                incident.status = "resolved"
                incident.resolved_at = now
                self._audit("incident_resolved", incident=incident)
            self._dirty_incidents.add(incident.incident_id)

    def _transition(self, alert: Alert, state: AlertState, now: float, *, reason: str = "", actor: str = "") -> None:
        before = alert.state
        alert.state = state
        alert.updated_at = now
        self._dirty_alerts.add(alert.alert_id)
        self._audit("state_changed", alert=alert, actor=actor,
                    details={"from": before.value, "to": state.value, "value": alert.value, "reason": reason})

    # ---------------------------------------------------------------- incidents and flapping

    def _group_labels(self, alert: Alert, rule: AlertRule) -> dict[str, str]:
        labels = {"alertname": rule.rule_id}
        for name in rule.group_by or ():
            labels[name] = alert.labels.get(name, "")
        return labels

    def _join_incident(self, alert: Alert, rule: AlertRule, now: float) -> None:
        group = self._group_labels(alert, rule)
        fp = fingerprint(group)
        incident = self._incident_by_fp.get(fp)
        if incident is not None and incident.status != "open":
            if incident.resolved_at is not None and now - incident.resolved_at <= rule.cooldown_s:
                incident.status, incident.resolved_at = "open", None  # a re-fire within the cooldown
                incident.reopened += 1
                self._audit("incident_reopened", incident=incident, alert=alert)
            else:
                incident = None
        if incident is None:
            incident = Incident(incident_id=f"inc_{uuid.uuid4().hex[:16]}", fingerprint=fp, rule_id=rule.rule_id,
                                group_labels=group, severity=str(rule.severity), opened_at=now, updated_at=now)
            self._incidents[incident.incident_id] = incident
            self._incident_by_fp[fp] = incident
            self._audit("incident_opened", incident=incident, alert=alert)
            self._bound_incidents()
        incident.updated_at = now
        if len(incident.alert_ids) < 1_000:
            incident.alert_ids.append(alert.alert_id)
        incident.active_alerts.add(alert.alert_id)
        if _SEVERITY_ORDER[str(rule.severity)] > _SEVERITY_ORDER.get(incident.severity, 0):
            incident.severity = str(rule.severity)
        alert.incident_id = incident.incident_id
        self._dirty_incidents.add(incident.incident_id)

    def _bound_incidents(self) -> None:
        while len(self._incidents) > self.max_incidents:
            victim = next((i for i in self._incidents.values() if i.status != "open"), None)
            if victim is None:
                break
            del self._incidents[victim.incident_id]
            if self._incident_by_fp.get(victim.fingerprint) is victim:
                del self._incident_by_fp[victim.fingerprint]
            _selfmon.dropped("alerts", "incidents")

    def _flap(self, alert: Alert, now: float) -> None:
        """Record a firing/resolved change of the series; past ``flap_threshold`` in the window it flaps."""
        changes = self._flaps.get(alert.fingerprint)
        if changes is None:
            changes = self._flaps[alert.fingerprint] = deque(maxlen=self.flap_threshold + 1)
            if len(self._flaps) > 10_000:
                self._flaps.popitem(last=False)
        changes.append(now)

    def _is_flapping(self, alert: Alert, now: float) -> bool:
        changes = self._flaps.get(alert.fingerprint)
        if not changes:
            return False
        return sum(1 for t in changes if now - t <= self.flap_window_s) > self.flap_threshold

    # ---------------------------------------------------------------- suppression and silences

    def _suppress(self, alert: Alert, until: float | None, now: float, *, reason: str, actor: str = "") -> None:
        if alert.state is not AlertState.SUPPRESSED:
            alert.suppressed_from = alert.state
        alert.suppressed_until = until
        self._suppressed.add(alert.alert_id)
        self._transition(alert, AlertState.SUPPRESSED, now, reason=reason, actor=actor)

    def _expire(self, now: float) -> None:
        """End suppressions and silences whose time is up; alerts go back to where they were."""
        if not self._suppressed:
            return
        for alert_id in list(self._suppressed):
            alert = self._by_id.get(alert_id)
            if alert is None or alert.state is not AlertState.SUPPRESSED:
                self._suppressed.discard(alert_id)
                continue
            if alert.suppressed_until is not None and alert.suppressed_until > now:
                continue
            labels = self._prom_labels(alert)
            still = [s.silence_id for s in self._silences.values() if s.active(now) and s.matches(labels)]
            if still and alert.suppressed_until is None:
                alert.silenced_by = still
                continue
            alert.silenced_by = []
            alert.suppressed_until = None
            self._suppressed.discard(alert_id)
            back = alert.suppressed_from or AlertState.TRIGGERED
            self._transition(alert, back, now, reason="suppression ended")
            rule = self._rules.get(alert.rule_id)
            if rule is not None:
                self._maybe_notify_firing(alert, rule, now)

    def _prom_labels(self, alert: Alert) -> dict[str, str]:
        rule = self._rule_dicts.get(alert.rule_id, {})
        return prom_labels({"rule_id": alert.rule_id, "severity": rule.get("severity", "low"),
                            "labels": alert.labels})

    # ---------------------------------------------------------------- notifications

    def _maybe_notify_firing(self, alert: Alert, rule: AlertRule, now: float) -> None:
        """First (or deferred) firing notice, or a repeat once per ``cooldown_s`` while unacknowledged."""
        if alert.state is not AlertState.TRIGGERED:
            return  # acknowledged: no repeats; suppressed: held
        if alert.notified_state == "firing":
            if rule.cooldown_s > 0 and alert.last_notified_at is not None \
                    and now - alert.last_notified_at >= rule.cooldown_s:
                self._notify(alert, rule, "repeat", now)
            return
        last = self._last_notice.get(alert.fingerprint)
        if last is not None and now - last < rule.cooldown_s:
            self._stats["held_by_cooldown"] += 1  # sent at the first evaluation after the cooldown
            return
        if self._is_flapping(alert, now):
            if not alert.flapping:
                alert.flapping = True
                self._stats["flapping_damped"] += 1
                self._audit("notification_damped", alert=alert, details={"reason": "flapping"})
            return
        alert.flapping = False
        self._notify(alert, rule, "firing", now)

    def _notify(self, alert: Alert, rule: AlertRule, kind: str, now: float,
                only_types: Iterable[str] | None = None) -> None:
        snapshot = alert.to_dict(self._rule_dicts.get(rule.rule_id))
        group = self._group_labels(alert, rule)
        types = set(only_types) if only_types is not None else None
        for name in rule.notification_channels:
            channel = self._channels.get(name)
            if channel is None:
                self._stats["notifications_failed"] += 1
                self._audit("notification", alert=alert, channel=name, details={
                    "kind": kind, "result": "failed", "reason": "channel not registered"})
                continue
            if not channel.enabled or (types is not None and channel.channel_type not in types):
                continue
            if not self._dispatcher.submit(Notification(name, kind, (snapshot,), group)):
                self._stats["notifications_dropped"] += 1
                self._audit("notification", alert=alert, channel=name, details={
                    "kind": kind, "result": "dropped", "reason": "delivery queue full"})
            if channel.channel_type == "alertmanager":
                alert.alertmanager_sent_at = now
        if kind == "resend":
            return
        alert.notified_state = "resolved" if kind == "resolved" else "firing"
        alert.last_notified_at = now
        alert.notifications += 1
        self._last_notice[alert.fingerprint] = now
        self._last_notice.move_to_end(alert.fingerprint)
        if len(self._last_notice) > 10_000:
            self._last_notice.popitem(last=False)
        self._dirty_alerts.add(alert.alert_id)

    def _resend_alertmanager(self, now: float) -> None:
        """Re-send firing alerts to Alertmanager channels every ``resend_interval_s`` (Prometheus does too)."""
        am = {n: c for n, c in self._channels.items() if c.channel_type == "alertmanager" and c.enabled}
        if not am:
            return
        for alert in list(self._active.values()):
            if alert.state not in (AlertState.TRIGGERED, AlertState.ACKNOWLEDGED) or alert.notified_state != "firing":
                continue
            rule = self._rules.get(alert.rule_id)
            if rule is None:
                continue
            intervals = [am[n].config.get("resend_interval_s", 60.0) for n in rule.notification_channels if n in am]
            if intervals and (alert.alertmanager_sent_at is None
                              or now - alert.alertmanager_sent_at >= min(intervals)):
                self._notify(alert, rule, "resend", now, only_types=("alertmanager",))

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
            if alert.state is AlertState.SUPPRESSED:
                alert.suppressed_from = AlertState.ACKNOWLEDGED
                self._dirty_alerts.add(alert.alert_id)
                self._audit("acknowledged", alert=alert, actor=str(acknowledged_by))
            else:
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
        if isinstance(duration_minutes, bool) or not isinstance(duration_minutes, (int, float)) \
                or duration_minutes <= 0:
            raise ValueError(f"duration_minutes must be a positive number, not {duration_minutes!r}")
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
        if isinstance(duration_minutes, bool) or not isinstance(duration_minutes, (int, float)) \
                or duration_minutes <= 0:
            raise ValueError(f"duration_minutes must be a positive number, not {duration_minutes!r}")
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
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        JsonFileStore(target, "incidents_report").update(lambda doc: {**doc, **report})
        return report

    def export_prometheus_rules(self, path: str | os.PathLike[str], *, group: str = "monitoring-layer",
                                rate_window: str = "5m") -> str:
        """Write the threshold rules as a Prometheus alerting-rules file; returns its text.

        Names and thresholds are translated to the exposition's base units
        (``request_latency`` in ms ``> 500`` becomes ``request_latency_seconds > 0.5``).
        """
        with self._lock:
            rules = list(self._rules.values())
            latest = {r.name: r for r in (self._hub.latest() if self._hub is not None else ())}
        text = render_rules(rules, self.metrics_collector, latest, group=group, rate_window=rate_window)
        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        tmp.write_text(text, "utf-8")
        os.replace(tmp, target)
        return text

    def get_audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit records (what the file holds plus what is not written yet), newest last."""
        self._persist()
        return self._files.read_audit()[-limit:]

    # ================================================================ files

    def _audit(self, event: str, *, alert: Alert | None = None, incident: Incident | None = None,
               channel: str = "", rule_id: str = "", alert_id: str = "", fp: str = "", actor: str = "",
               incident_id: str = "", details: Mapping[str, Any] | None = None) -> None:
        now = self._clock()
        record = {"time": iso(now), "event": event,
                  "rule_id": rule_id or (alert.rule_id if alert else incident.rule_id if incident else ""),
                  "alert_id": alert_id or (alert.alert_id if alert else ""),
                  "fingerprint": fp or (alert.fingerprint if alert else incident.fingerprint if incident else ""),
                  "incident_id": incident_id or (incident.incident_id if incident else
                                                 alert.incident_id if alert else ""),
                  "channel": channel, "actor": actor, "details": dict(details or {})}
        if len(self._audit_pending) >= 10_000:
            _selfmon.dropped("alerts", "audit_buffer")
            return
        self._audit_pending.append(record)

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
