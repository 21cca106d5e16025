"""The alert state machine: evaluation of rules on readings, incidents, flapping, suppression and notices.

``AlertEngine`` is the part of ``AlertManager`` that decides: every method runs
under the manager's lock with the injected clock, changes only in-memory state,
records what changed (dirty sets, audit records) and hands notifications to the
dispatcher. It never does I/O itself, so evaluation never waits on a file or a
receiver. ``AlertManager`` adds the public API, files and lifecycle.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from monitoring_layer import _selfmon
from monitoring_layer.readings import MetricReading, reading_statistic

from ._channels import NotificationChannel
from ._delivery import Dispatcher
from ._model import AlertRule, AlertState, Severity
from ._payloads import prom_labels
from ._rules_index import RuleIndex
from ._senders import Notification
from ._state import Alert, Incident, Silence, fingerprint, iso

__all__ = ["AlertEngine", "SEVERITY_ORDER"]

#: severity -> rank (low 0 ... critical 3)
SEVERITY_ORDER = {s.value: i for i, s in enumerate(Severity)}


class AlertEngine:
    """Rules, alerts, incidents and silences in memory, and the transitions between states."""

    _clock: Callable[[], float]
    _dispatcher: Dispatcher
    flap_window_s: float
    flap_threshold: int
    max_active_alerts: int

    def _init_state(self, *, max_history: int, max_incidents: int) -> None:
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

    def _put_rule(self, rule: AlertRule) -> None:
        self._rules[rule.rule_id] = rule
        self._rule_dicts[rule.rule_id] = rule.to_dict()
        self._index.rebuild(self._rules)

    def _evaluate_readings(self, readings: Sequence[MetricReading]) -> None:
        """Evaluate every rule on one collection's readings (on the collecting thread; no I/O)."""
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
        if SEVERITY_ORDER[str(rule.severity)] > SEVERITY_ORDER.get(incident.severity, 0):
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
            if still:  # a timed suppression ended, but a silence still holds it
                alert.silenced_by = still
                alert.suppressed_until = None
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

    def _audit(self, event: str, *, alert: Alert | None = None, incident: Incident | None = None,
               channel: str = "", rule_id: str = "", alert_id: str = "", fp: str = "", actor: str = "",
               incident_id: str = "", details: Mapping[str, Any] | None = None) -> None:
        now = self._clock()
        record = {"time": iso(now), "event": event,
                  "rule_id": rule_id or (alert.rule_id if alert else incident.rule_id if incident else ""),
                  "alert_id": alert_id or (alert.alert_id if alert else ""),
                  "fingerprint": fp or (incident.fingerprint if incident else alert.fingerprint if alert else ""),
                  "incident_id": incident_id or (incident.incident_id if incident else
                                                 alert.incident_id if alert else ""),
                  "channel": channel, "actor": actor, "details": dict(details or {})}
        if len(self._audit_pending) >= 10_000:
            _selfmon.dropped("alerts", "audit_buffer")
            return
        self._audit_pending.append(record)
