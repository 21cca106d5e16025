"""The alert engine on a ReadingsHub the test publishes to, with an injected clock (never slept)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitoring_layer import AlertManager, AlertRule, NotificationChannel, Severity
from monitoring_layer.alerts._senders import Attempt, Notification
from monitoring_layer.exporters.schema import FILES, load_schema, validate
from monitoring_layer.readings import MetricReading, ReadingsHub


class Clock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Recorder:
    """Stands in for the HTTP transport: records what would be posted, answers 200."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, Any]] = []

    def post(self, url: str, body: bytes, headers: Any, timeout_s: float) -> tuple[int, dict[str, str]]:
        self.posts.append((url, json.loads(body)))
        return 200, {}

    def kinds(self) -> list[str]:
        out = []
        for _url, body in self.posts:
            out.append(body["status"] if "status" in body else "?")
        return out


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hub() -> ReadingsHub:
    return ReadingsHub()


@pytest.fixture
def transport() -> Recorder:
    return Recorder()


@pytest.fixture
def manager(clock: Clock, hub: ReadingsHub, transport: Recorder, home: Path):
    built = AlertManager(readings=hub, clock=clock, transport=transport, home=home, backoff_base_s=0.0)
    built.register_channel(NotificationChannel("webhook", "hook", {"url": "http://127.0.0.1:9/hook"}))
    yield built
    built.close()


def gauge(name: str, value: float, **labels: str) -> MetricReading:
    return MetricReading(name, "gauge", float(value), labels=labels)


def rule(**overrides: Any) -> AlertRule:
    base: dict[str, Any] = dict(rule_id="cpu_high", name="High CPU Usage", metric="cpu_usage", condition="> 85",
                                threshold=85, severity="critical", notification_channels=["hook"])
    base.update(overrides)
    return AlertRule(**base)


def sent(manager: AlertManager, transport: Recorder) -> list[str]:
    assert manager.flush(10)
    return transport.kinds()


# ------------------------------------------------------------------ rules and channels


def test_severity_lookups_ignore_case() -> None:
    assert Severity("CRITICAL") is Severity.CRITICAL and Severity.parse("High", "severity") is Severity.HIGH
    assert Severity.CRITICAL.value == "critical"
    with pytest.raises(ValueError, match="severity"):
        rule(severity="urgent")


@pytest.mark.parametrize("condition", [">85", ">= 85", "< 85", "<= 85.0", "== 85", "!= 85"])
def test_conditions_parse(condition: str) -> None:
    assert rule(condition=condition).threshold == 85


@pytest.mark.parametrize("condition, threshold, match", [
    ("> 90", 85, "disagrees"), ("=> 85", 85, "condition"), ("85", 85, "condition"), ("> abc", 85, "condition"),
])
def test_bad_conditions_are_refused(condition: str, threshold: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        rule(condition=condition, threshold=threshold)


def test_rule_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="statistic"):
        rule(statistic="p90")
    with pytest.raises(ValueError, match="for_s"):
        rule(for_s=-1)
    with pytest.raises(ValueError, match="clear_threshold"):
        rule(clear_threshold=90)  # on the firing side of "> 85"
    with pytest.raises(TypeError, match="notification_channels"):
        rule(notification_channels="hook")


@pytest.mark.parametrize("channel_type, config, key", [
    ("slack", {}, "webhook_url"),
    ("slack", {"webhook_url": "not a url"}, "webhook_url"),
    ("webhook", {"url": "ftp://x"}, "url"),
    ("alertmanager", {"url": "http://host:99999"}, "url"),
    ("email", {"smtp_host": "h", "smtp_port": 70000, "from_addr": "a@b", "to_addrs": ["c@d"]}, "smtp_port"),
    ("email", {"smtp_host": "h", "smtp_port": 25, "from_addr": "a@b"}, "to_addrs"),
    ("email", {"smtp_host": "h", "smtp_port": "x", "from_addr": "a@b", "to_addrs": "c@d"}, "smtp_port"),
])
def test_bad_channel_config_names_the_key(channel_type: str, config: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=key):
        NotificationChannel(channel_type, "c", config)


def test_spec_placeholder_url_is_accepted_and_unknown_channels_refused(manager: AlertManager) -> None:
    manager.register_channel(NotificationChannel("slack", "alerts", {"webhook_url": "https://..."}))
    with pytest.raises(ValueError, match="'nope' is not registered"):
        manager.register_rule(rule(notification_channels=["nope"]))


def test_secrets_are_redacted_in_results_and_files(manager: AlertManager, home: Path) -> None:
    secret = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    shown = manager.register_channel(NotificationChannel("slack", "s", {"webhook_url": secret}))
    manager.register_channel(NotificationChannel("email", "mail", {
        "smtp_host": "127.0.0.1", "smtp_port": 25, "from_addr": "a@example.com", "to_addrs": ["b@example.com"],
        "username": "u", "password": "hunter2-password"}))
    manager.register_channel(NotificationChannel("webhook", "h2", {
        "url": "https://example.com/hook?token=tok-123456", "headers": {"Authorization": "Bearer abcdefgh"}}))
    assert "XXXXSECRET" not in json.dumps(shown)
    everything = json.dumps(manager.get_channels()) + "".join(p.read_text() for p in (home / "alerts").glob("*.json"))
    for needle in ("XXXXSECRET", "hunter2-password", "tok-123456", "abcdefgh"):
        assert needle not in everything


# ------------------------------------------------------------------ evaluation


def test_rule_fires_from_published_readings_and_resolves(manager: AlertManager, hub: ReadingsHub,
                                                         transport: Recorder) -> None:
    manager.register_rule(rule())
    hub.publish([gauge("cpu_usage", 50, component="api")])
    assert manager.get_active_alerts() == []
    hub.publish([gauge("cpu_usage", 92, component="api"), gauge("other", 1000)])
    (alert,) = manager.get_active_alerts()
    assert alert["state"] == "triggered" and alert["value"] == 92 and alert["labels"] == {"component": "api"}
    for key in ("alert_id", "rule_id", "name", "severity", "fingerprint", "incident_id", "started_at", "updated_at"):
        assert alert[key]
    hub.publish([gauge("cpu_usage", 40, component="api")])
    assert manager.get_active_alerts() == []
    assert sent(manager, transport) == ["firing", "resolved"]


def test_evaluate_and_trigger_returns_created_and_changed_alerts(manager: AlertManager) -> None:
    manager.register_rule(rule())
    (created,) = manager.evaluate_and_trigger(metric="cpu_usage", value=92)
    assert created["state"] == "triggered"
    assert manager.evaluate_and_trigger(metric="cpu_usage", value=95) == []  # still firing: no change
    (resolved,) = manager.evaluate_and_trigger(metric="cpu_usage", value=10)
    assert resolved["state"] == "resolved" and resolved["alert_id"] == created["alert_id"]
    assert manager.evaluate_and_trigger(metric="unknown_metric", value=1e9) == []


def test_label_matchers_select_series(manager: AlertManager, hub: ReadingsHub) -> None:
    manager.register_rule(rule(labels={"host": "a"}))
    hub.publish([gauge("cpu_usage", 99, host="b"), gauge("cpu_usage", 99, host="a", zone="1")])
    (alert,) = manager.get_active_alerts()
    assert alert["labels"] == {"host": "a", "zone": "1"}


def test_statistics_p95_and_rate(manager: AlertManager, hub: ReadingsHub, clock: Clock) -> None:
    manager.register_rule(rule(rule_id="slow", metric="latency", condition="> 500", threshold=500, statistic="p95"))
    manager.register_rule(rule(rule_id="busy", metric="requests", condition="> 10", threshold=10, statistic="rate"))
    latency = MetricReading("latency", "histogram", 100.0, unit="ms", count=10, sum=1000.0,
                            statistics={"p95": 800.0, "mean": 100.0})
    hub.publish([latency, MetricReading("requests", "counter", 100.0, timestamp_ns=1_000_000_000_000)])
    assert [a["rule_id"] for a in manager.get_active_alerts()] == ["slow"]  # no rate from a first reading
    hub.publish([MetricReading("requests", "counter", 150.0, timestamp_ns=1_010_000_000_000)])  # 5/s
    assert {a["rule_id"] for a in manager.get_active_alerts()} == {"slow"}
    hub.publish([MetricReading("requests", "counter", 400.0, timestamp_ns=1_020_000_000_000)])  # 25/s
    busy = [a for a in manager.get_active_alerts() if a["rule_id"] == "busy"]
    assert busy and busy[0]["value"] == 25.0


def test_for_s_keeps_an_alert_pending(manager: AlertManager, hub: ReadingsHub, clock: Clock,
                                      transport: Recorder) -> None:
    manager.register_rule(rule(for_s=60))
    hub.publish([gauge("cpu_usage", 92)])
    assert [a["state"] for a in manager.get_active_alerts()] == ["pending"]
    clock.advance(59)
    hub.publish([gauge("cpu_usage", 92)])
    assert [a["state"] for a in manager.get_active_alerts()] == ["pending"]
    assert sent(manager, transport) == []
    clock.advance(1)
    hub.publish([gauge("cpu_usage", 92)])
    assert [a["state"] for a in manager.get_active_alerts()] == ["triggered"]
    assert sent(manager, transport) == ["firing"]


def test_pending_alert_that_clears_never_notifies(manager: AlertManager, hub: ReadingsHub,
                                                  transport: Recorder) -> None:
    manager.register_rule(rule(for_s=60))
    hub.publish([gauge("cpu_usage", 92)])
    hub.publish([gauge("cpu_usage", 10)])
    assert manager.get_active_alerts() == [] and sent(manager, transport) == []


def test_hysteresis_clears_only_past_clear_threshold(manager: AlertManager, hub: ReadingsHub) -> None:
    manager.register_rule(rule(clear_threshold=80))
    hub.publish([gauge("cpu_usage", 90)])
    hub.publish([gauge("cpu_usage", 82)])  # below 85 but above 80: still firing
    assert [a["state"] for a in manager.get_active_alerts()] == ["triggered"]
    hub.publish([gauge("cpu_usage", 79)])
    assert manager.get_active_alerts() == []


def test_keep_firing_for_s(manager: AlertManager, hub: ReadingsHub, clock: Clock) -> None:
    manager.register_rule(rule(keep_firing_for_s=120))
    hub.publish([gauge("cpu_usage", 90)])
    clock.advance(10)
    hub.publish([gauge("cpu_usage", 10)])
    clock.advance(119)
    hub.publish([gauge("cpu_usage", 10)])
    assert len(manager.get_active_alerts()) == 1
    clock.advance(1)
    hub.publish([gauge("cpu_usage", 10)])
    assert manager.get_active_alerts() == []


def test_cooldown_spaces_repeats_and_acknowledge_stops_them(manager: AlertManager, hub: ReadingsHub,
                                                            clock: Clock, transport: Recorder) -> None:
    manager.register_rule(rule(cooldown_s=300))
    hub.publish([gauge("cpu_usage", 90)])
    clock.advance(299)
    hub.publish([gauge("cpu_usage", 90)])
    assert sent(manager, transport) == ["firing"]
    clock.advance(1)
    hub.publish([gauge("cpu_usage", 91)])
    assert sent(manager, transport) == ["firing", "firing"]  # the repeat
    (alert,) = manager.get_active_alerts()
    acknowledged = manager.acknowledge_alert(alert["alert_id"], acknowledged_by="admin")
    assert acknowledged["state"] == "acknowledged" and acknowledged["acknowledged_by"] == "admin"
    clock.advance(1000)
    hub.publish([gauge("cpu_usage", 91)])
    assert sent(manager, transport) == ["firing", "firing"]
    hub.publish([gauge("cpu_usage", 10)])  # the resolved notice still goes out
    assert sent(manager, transport) == ["firing", "firing", "resolved"]


def test_refire_within_cooldown_joins_the_incident_and_is_notified_after_it(
        manager: AlertManager, hub: ReadingsHub, clock: Clock, transport: Recorder) -> None:
    manager.register_rule(rule(cooldown_s=300))
    hub.publish([gauge("cpu_usage", 90, component="db")])
    first = manager.get_active_alerts()[0]
    clock.advance(10)
    hub.publish([gauge("cpu_usage", 10, component="db")])
    clock.advance(10)
    hub.publish([gauge("cpu_usage", 95, component="db")])
    second = manager.get_active_alerts()[0]
    assert second["alert_id"] != first["alert_id"]
    assert second["incident_id"] == first["incident_id"] and second["fingerprint"] == first["fingerprint"]
    (incident,) = manager.get_open_incidents()
    assert incident["reopened"] == 1 and incident["alert_ids"] == [first["alert_id"], second["alert_id"]]
    assert sent(manager, transport) == ["firing", "resolved"]  # held by the cooldown...
    clock.advance(300)
    hub.publish([gauge("cpu_usage", 95, component="db")])
    assert sent(manager, transport) == ["firing", "resolved", "firing"]  # ...then sent, not lost


def test_fingerprints_come_from_identifying_labels_not_values(manager: AlertManager, clock: Clock) -> None:
    manager.register_rule(rule(cooldown_s=0))
    a = manager.evaluate_and_trigger("cpu_usage", 90, {"component": "api", "host": "h1"})[0]
    manager.evaluate_and_trigger("cpu_usage", 10, {"component": "api", "host": "h1"})
    clock.advance(3600)
    b = manager.evaluate_and_trigger("cpu_usage", 99, {"component": "api", "host": "h1"})[0]
    c = manager.evaluate_and_trigger("cpu_usage", 99, {"component": "api", "host": "h2"})[0]
    assert a["fingerprint"] == b["fingerprint"] != c["fingerprint"]
    # outside the cooldown, a new incident; h2 groups with h1 (same rule and component)
    assert b["incident_id"] != a["incident_id"] and c["incident_id"] == b["incident_id"]
    assert len(manager.get_open_incidents()) == 1


def test_group_by_splits_incidents(manager: AlertManager) -> None:
    manager.register_rule(rule(group_by=["host"]))
    a = manager.evaluate_and_trigger("cpu_usage", 90, {"host": "h1"})[0]
    b = manager.evaluate_and_trigger("cpu_usage", 90, {"host": "h2"})[0]
    assert a["incident_id"] != b["incident_id"] and len(manager.get_open_incidents()) == 2


def test_flapping_is_damped_and_counted(manager: AlertManager, hub: ReadingsHub, clock: Clock,
                                        transport: Recorder) -> None:
    manager.register_rule(rule(cooldown_s=0))
    for _ in range(5):
        hub.publish([gauge("cpu_usage", 90)])
        clock.advance(5)
        hub.publish([gauge("cpu_usage", 10)])
        clock.advance(5)
    kinds = sent(manager, transport)
    assert kinds.count("firing") == 2 and kinds.count("resolved") == 2  # then damped
    stats = manager.get_alert_statistics()
    assert stats["flapping_damped"] == 3
    events = [r["event"] for r in manager.get_audit_log(limit=1000)]
    assert events.count("notification_damped") == 3


def test_suppress_holds_notifications_until_it_expires(manager: AlertManager, clock: Clock,
                                                       transport: Recorder, hub: ReadingsHub) -> None:
    manager.register_rule(rule(cooldown_s=60))
    (alert,) = manager.evaluate_and_trigger("cpu_usage", 90)
    suppressed = manager.suppress_alert(alert["alert_id"], duration_minutes=10)
    assert suppressed["state"] == "suppressed"
    clock.advance(300)
    hub.publish([gauge("cpu_usage", 90)])
    assert sent(manager, transport) == ["firing"]  # no repeat while suppressed
    clock.advance(300)
    hub.publish([gauge("cpu_usage", 90)])
    assert manager.get_active_alerts()[0]["state"] == "triggered"
    assert sent(manager, transport) == ["firing", "firing"]


def test_silence_by_matchers_expires(manager: AlertManager, clock: Clock, hub: ReadingsHub,
                                     transport: Recorder) -> None:
    manager.register_rule(rule(cooldown_s=3600))  # no repeat of h2 in this test
    silence = manager.add_silence({"alertname": "cpu_high", "host": "h1"}, duration_minutes=30,
                                  created_by="ops", comment="maintenance")
    hub.publish([gauge("cpu_usage", 90, host="h1"), gauge("cpu_usage", 90, host="h2")])
    states = {a["labels"]["host"]: a for a in manager.get_active_alerts()}
    assert states["h1"]["state"] == "suppressed" and states["h1"]["silenced_by"] == [silence["silence_id"]]
    assert states["h2"]["state"] == "triggered"
    assert len(sent(manager, transport)) == 1
    clock.advance(30 * 60)
    hub.publish([gauge("cpu_usage", 90, host="h1"), gauge("cpu_usage", 90, host="h2")])
    assert {a["state"] for a in manager.get_active_alerts()} == {"triggered"}
    assert sent(manager, transport) == ["firing", "firing"]
    assert manager.get_silences() == [] and len(manager.get_silences(include_expired=True)) == 1


def test_only_firing_alerts_can_be_acknowledged_or_suppressed(manager: AlertManager) -> None:
    manager.register_rule(rule(for_s=60))
    (pending,) = manager.evaluate_and_trigger("cpu_usage", 90)
    with pytest.raises(ValueError, match="pending"):
        manager.acknowledge_alert(pending["alert_id"], "admin")
    with pytest.raises(ValueError, match="pending"):
        manager.suppress_alert(pending["alert_id"], 5)


def test_manual_resolve_and_unknown_ids(manager: AlertManager, transport: Recorder) -> None:
    manager.register_rule(rule())
    (alert,) = manager.evaluate_and_trigger("cpu_usage", 90)
    resolved = manager.resolve_alert(alert["alert_id"], resolved_by="admin")
    assert resolved["state"] == "resolved" and resolved["resolved_by"] == "admin"
    assert manager.get_open_incidents() == []
    for call in (manager.acknowledge_alert, manager.resolve_alert):
        with pytest.raises(KeyError, match="nope"):
            call("nope", "x")
    with pytest.raises(KeyError, match="nope"):
        manager.suppress_alert("nope")
    assert sent(manager, transport) == ["firing", "resolved"]


def test_queries_and_statistics(manager: AlertManager, tmp_path: Path) -> None:
    manager.register_rule(rule())
    manager.register_rule(rule(rule_id="mem", metric="mem", severity="low"))
    manager.evaluate_and_trigger("cpu_usage", 90)
    (mem,) = manager.evaluate_and_trigger("mem", 90)
    manager.acknowledge_alert(mem["alert_id"], "me")
    assert [a["rule_id"] for a in manager.get_alerts_by_severity("CRITICAL")] == ["cpu_high"]
    assert [a["rule_id"] for a in manager.get_alerts_by_severity(Severity.LOW.value)] == ["mem"]
    assert [a["severity"] for a in manager.get_active_alerts()] == ["critical", "low"]
    assert manager.flush(10)
    stats = manager.get_alert_statistics()
    assert stats["total"] == 2 and stats["triggered"] == 1 and stats["acknowledged"] == 1
    assert stats["by_severity"]["critical"] == 1 and stats["open_incidents"] == 2
    assert stats["notifications_sent"] == 2 and stats["notifications_failed"] == 0
    report = tmp_path / "out" / "incidents_report.json"
    manager.export_incidents(report)
    doc = json.loads(report.read_text())
    assert len(doc["incidents"]) == 2 and len(doc["active_alerts"]) == 2


def test_files_validate_and_audit_records_every_action(manager: AlertManager, home: Path, capsys) -> None:
    manager.register_rule(rule())
    (alert,) = manager.evaluate_and_trigger("cpu_usage", 90)
    manager.acknowledge_alert(alert["alert_id"], "admin")
    manager.add_silence({"alertname": "x"}, 5, "ops")
    manager.evaluate_and_trigger("cpu_usage", 1)
    assert manager.flush(10)
    import jsonschema

    from monitoring_layer.cli import main

    for relative, schema in FILES.items():
        if relative.startswith("alerts/"):
            doc = json.loads((home / relative).read_text())
            jsonschema.Draft202012Validator.check_schema(load_schema(schema))
            jsonschema.validate(doc, load_schema(schema))  # the standard validator agrees...
            assert validate(doc, load_schema(schema)) == [], relative  # ...with the one `check` uses
    assert main(["check", "--home", str(home)]) == 0
    broken = json.loads((home / "alerts/incidents.json").read_text())
    broken["alerts"][0]["state"] = "exploded"
    (home / "alerts/incidents.json").write_text(json.dumps(broken))
    assert main(["check", "--home", str(home)]) == 1
    events = [(r["event"], r["details"].get("to") or r["details"].get("result")) for r in manager.get_audit_log()]
    for expected in [("channel_registered", None), ("rule_registered", None), ("state_changed", "triggered"),
                     ("incident_opened", None), ("acknowledged", None), ("state_changed", "acknowledged"),
                     ("silence_added", None),
                     ("state_changed", "resolved"), ("notification", "delivered")]:
        assert expected in events


def test_restart_reloads_rules_incidents_alerts_and_silences(clock: Clock, transport: Recorder,
                                                             home: Path) -> None:
    first = AlertManager(clock=clock, transport=transport, home=home)
    first.register_channel(NotificationChannel("webhook", "hook", {"url": "http://127.0.0.1:9/x?token=secret1"}))
    first.register_rule(rule(cooldown_s=600))
    (alert,) = first.evaluate_and_trigger("cpu_usage", 90, {"component": "db"})
    first.acknowledge_alert(alert["alert_id"], "admin")
    first.add_silence({"host": "h9"}, 60, "ops")
    first.flush(10)
    first.close()

    clock.advance(60)
    second = AlertManager(clock=clock, transport=transport, home=home)
    try:
        assert [r["rule_id"] for r in second.get_rules()] == ["cpu_high"]
        (channel,) = second.get_channels()
        assert channel["channel_name"] == "hook" and "secret1" not in json.dumps(channel)
        (restored,) = second.get_active_alerts()
        assert restored["alert_id"] == alert["alert_id"] and restored["state"] == "acknowledged"
        assert [i["incident_id"] for i in second.get_open_incidents()] == [alert["incident_id"]]
        assert len(second.get_silences()) == 1
        (resolved,) = second.evaluate_and_trigger("cpu_usage", 10, {"component": "db"})
        assert resolved["alert_id"] == alert["alert_id"] and resolved["state"] == "resolved"
        assert second.flush(10)
        # the reloaded channel has no secret: the resolved notice fails (recorded), nothing is sent with a
        # redacted URL
        assert len(transport.posts) == 1
        failed = [r for r in second.get_audit_log() if r["details"].get("result") == "failed"]
        assert failed and "secrets not loaded" in failed[-1]["details"]["reason"]
    finally:
        second.close()


def test_secrets_file_restores_channel_secrets(clock: Clock, transport: Recorder, home: Path,
                                               tmp_path: Path) -> None:
    first = AlertManager(clock=clock, transport=transport, home=home)
    first.register_channel(NotificationChannel("webhook", "hook", {"url": "http://127.0.0.1:9/x?token=secret1"}))
    first.close()
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"hook": {"url": "http://127.0.0.1:9/x?token=secret1"}}))
    secrets.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        AlertManager(clock=clock, transport=transport, home=home, secrets_file=secrets)
    secrets.chmod(0o600)
    second = AlertManager(clock=clock, transport=transport, home=home, secrets_file=secrets)
    try:
        second.register_rule(rule())
        second.evaluate_and_trigger("cpu_usage", 90)
        assert second.flush(10)
        assert transport.posts[-1][0] == "http://127.0.0.1:9/x?token=secret1"
    finally:
        second.close()


def test_delivery_never_blocks_evaluation_and_full_queue_is_counted(clock: Clock, home: Path) -> None:
    import threading

    release = threading.Event()

    class Stuck:
        def post(self, *args: Any) -> tuple[int, dict[str, str]]:
            release.wait(10)
            return 200, {}

    manager = AlertManager(clock=clock, transport=Stuck(), home=home, max_queue=2)
    try:
        manager.register_channel(NotificationChannel("webhook", "hook", {"url": "http://127.0.0.1:9/"}))
        manager.register_rule(rule(group_by=["host"]))
        for i in range(5):  # the receiver hangs; evaluation goes on
            manager.evaluate_and_trigger("cpu_usage", 90, {"host": f"h{i}"})
        assert len(manager.get_active_alerts()) == 5
        stats = manager.get_alert_statistics()
        assert stats["notifications_dropped"] >= 2
    finally:
        release.set()
        manager.close()


def test_dispatcher_backoff_is_jittered_exponential_and_bounded() -> None:
    from monitoring_layer.alerts._delivery import Dispatcher

    results: list[tuple[int, bool, bool]] = []
    dispatcher = Dispatcher(lambda n: Attempt(False, retry=True, reason="503"),
                            lambda n, number, attempt, final: results.append((number, attempt.delivered, final)),
                            max_attempts=3, backoff_base_s=0.0, rng=lambda: 1.0)
    assert dispatcher._backoff(1) == 0.0
    slow = Dispatcher(lambda n: Attempt(True), lambda *a: None, backoff_base_s=1.0, backoff_max_s=8.0,
                      rng=lambda: 0.5)
    assert [slow._backoff(k) for k in (1, 2, 3, 4, 5)] == [0.75, 1.5, 3.0, 6.0, 6.0]
    dispatcher.submit(Notification("c", "firing", (), {}))
    assert dispatcher.wait_settled(10)
    assert results == [(1, False, False), (2, False, False), (3, False, True)]
    dispatcher.close()
    slow.close()


def test_alertmanager_channel_resends_firing_alerts_like_prometheus(manager: AlertManager, hub: ReadingsHub,
                                                                   clock: Clock, transport: Recorder) -> None:
    manager.register_channel(NotificationChannel("alertmanager", "am", {"url": "http://127.0.0.1:9093",
                                                                        "resend_interval_s": 60}))
    manager.register_rule(rule(notification_channels=["am"], cooldown_s=0))
    hub.publish([gauge("cpu_usage", 90)])
    clock.advance(30)
    hub.publish([gauge("cpu_usage", 90)])
    assert manager.flush(10) and len(transport.posts) == 1
    clock.advance(30)
    hub.publish([gauge("cpu_usage", 90)])
    (alert,) = manager.get_active_alerts()
    manager.acknowledge_alert(alert["alert_id"], "admin")  # acknowledged alerts are still firing for Alertmanager
    clock.advance(60)
    hub.publish([gauge("cpu_usage", 90)])
    clock.advance(60)
    hub.publish([gauge("cpu_usage", 10)])
    assert manager.flush(10)
    urls = {url for url, _ in transport.posts}
    assert urls == {"http://127.0.0.1:9093/api/v2/alerts"}
    bodies = [body for _, body in transport.posts]
    assert len(bodies) == 4  # first push, two re-sends, the resolved one
    assert all(b[0]["endsAt"] > b[0]["startsAt"] for b in bodies)
    from monitoring_layer.alerts._state import iso

    assert bodies[-1][0]["endsAt"] == iso(clock.now)  # resolved: ends when it cleared


def test_a_silence_outlasting_a_suppression_keeps_the_alert_suppressed(manager: AlertManager, clock: Clock,
                                                                       transport: Recorder) -> None:
    manager.register_rule(rule(cooldown_s=3600))
    (alert,) = manager.evaluate_and_trigger("cpu_usage", 90)
    manager.suppress_alert(alert["alert_id"], duration_minutes=5)
    silence = manager.add_silence({"alertname": "cpu_high"}, duration_minutes=60, created_by="ops")
    clock.advance(10 * 60)
    (held,) = manager.get_active_alerts()
    assert held["state"] == "suppressed" and held["silenced_by"] == [silence["silence_id"]]
    clock.advance(60 * 60)
    assert manager.get_active_alerts()[0]["state"] == "triggered"
