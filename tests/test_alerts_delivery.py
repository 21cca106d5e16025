"""Notifications to real receivers on loopback: an HTTP server (Slack and webhook shapes, 429, 5xx, 4xx, down)
and an SMTP server (aiosmtpd). Rule logic uses an injected clock; delivery waits on ``flush()``, never sleeps."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitoring_layer import AlertManager, AlertRule, NotificationChannel
from monitoring_layer.readings import MetricReading, ReadingsHub

from _receivers import receiver
from _requires import require

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def manager(clock: Clock, home: Path) -> Iterator[AlertManager]:
    built = AlertManager(clock=clock, home=home, backoff_base_s=0.05, backoff_max_s=0.2, max_attempts=3)
    yield built
    built.close()


def cpu_rule(*channels: str, **extra: Any) -> AlertRule:
    return AlertRule(rule_id="cpu_high", name="High CPU Usage", metric="cpu_usage", condition="> 85",
                     threshold=85, severity="critical", notification_channels=list(channels),
                     description="CPU above 85%", **extra)


def attempts(manager: AlertManager, channel: str) -> list[dict[str, Any]]:
    return [r["details"] for r in manager.get_audit_log(limit=1000)
            if r["event"] == "notification" and r["channel"] == channel]


def test_slack_payload_firing_then_resolved(manager: AlertManager) -> None:
    with receiver() as slack:
        manager.register_channel(NotificationChannel("slack", "alerts", {"webhook_url": slack.url + "/services/T/B/X"}))
        manager.register_rule(cpu_rule("alerts"))
        manager.evaluate_and_trigger("cpu_usage", 92, {"component": "api"})
        manager.evaluate_and_trigger("cpu_usage", 10, {"component": "api"})
        assert manager.flush(10)
        firing, resolved = (r.json() for r in slack.requests)
    assert slack.requests[0].path == "/services/T/B/X"
    assert firing["text"].startswith("[FIRING] High CPU Usage (critical)") and "92" in firing["text"]
    assert resolved["text"].startswith("[RESOLVED] High CPU Usage")
    assert firing["blocks"][0]["type"] == "header" and "FIRING" in firing["blocks"][0]["text"]["text"]
    assert any("component=api" in json.dumps(b) for b in firing["blocks"])


def test_webhook_posts_alertmanager_v4_body(manager: AlertManager) -> None:
    with receiver() as hook:
        manager.register_channel(NotificationChannel("webhook", "hook", {
            "url": hook.url + "/alert", "headers": {"Authorization": "Bearer s3cr3t-token"}}))
        manager.register_rule(cpu_rule("hook"))
        (alert,) = manager.evaluate_and_trigger("cpu_usage", 92, {"component": "api", "host": "h1"})
        manager.evaluate_and_trigger("cpu_usage", 10, {"component": "api", "host": "h1"})
        assert manager.flush(10)
        firing, resolved = (r.json() for r in hook.requests)
        assert hook.requests[0].headers["Authorization"] == "Bearer s3cr3t-token"
    assert firing["version"] == "4" and firing["status"] == "firing" and resolved["status"] == "resolved"
    for key in ("groupKey", "groupLabels", "commonLabels", "commonAnnotations", "alerts"):
        assert key in firing
    assert firing["groupLabels"] == {"alertname": "cpu_high", "component": "api"}
    (item,) = firing["alerts"]
    assert item["status"] == "firing" and item["fingerprint"] == alert["fingerprint"]
    assert item["labels"] == {"alertname": "cpu_high", "severity": "critical", "component": "api", "host": "h1"}
    assert item["annotations"]["summary"] == "High CPU Usage" and item["annotations"]["value"] == "92"
    assert item["startsAt"].endswith("Z") and item["endsAt"] == "0001-01-01T00:00:00Z"
    assert resolved["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
    assert "s3cr3t-token" not in json.dumps(manager.get_audit_log(limit=1000))


def test_429_with_retry_after_then_200_delivers_exactly_once(manager: AlertManager) -> None:
    with receiver() as hook:
        hook.script = [(429, {"Retry-After": "1"})]
        manager.register_channel(NotificationChannel("webhook", "hook", {"url": hook.url}))
        manager.register_rule(cpu_rule("hook"))
        manager.evaluate_and_trigger("cpu_usage", 92)
        assert manager.flush(10)
        assert len(hook.requests) == 2  # the 429 and the one delivery
    results = [(d["attempt"], d["result"], d["status"]) for d in attempts(manager, "hook")]
    assert results == [(1, "retrying", 429), (2, "delivered", 200)]
    assert attempts(manager, "hook")[0]["retry_after_s"] == 1.0
    stats = manager.get_alert_statistics()
    assert stats["notifications_sent"] == 1 and stats["notifications_failed"] == 0


def test_5xx_is_retried_4xx_is_not(manager: AlertManager) -> None:
    with receiver() as flaky, receiver() as wrong:
        flaky.script = [(503, {}), (502, {})]
        wrong.script = [(404, {})]
        manager.register_channel(NotificationChannel("webhook", "flaky", {"url": flaky.url}))
        manager.register_channel(NotificationChannel("webhook", "wrong", {"url": wrong.url}))
        manager.register_rule(cpu_rule("flaky", "wrong"))
        manager.evaluate_and_trigger("cpu_usage", 92)
        assert manager.flush(10)
        assert len(flaky.requests) == 3 and len(wrong.requests) == 1
    assert [d["result"] for d in attempts(manager, "flaky")] == ["retrying", "retrying", "delivered"]
    assert [(d["result"], d["status"]) for d in attempts(manager, "wrong")] == [("failed", 404)]


def test_receiver_down_is_a_failed_attempt_and_evaluation_goes_on(manager: AlertManager) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    manager.register_channel(NotificationChannel("webhook", "down", {"url": f"http://127.0.0.1:{port}/x"}))
    manager.register_rule(cpu_rule("down", group_by=["host"]))
    for i in range(20):
        manager.evaluate_and_trigger("cpu_usage", 92, {"host": f"h{i}"})
    assert len(manager.get_active_alerts()) == 20
    assert manager.flush(30)
    failed = [d for d in attempts(manager, "down") if d["result"] == "failed"]
    assert len(failed) == 20 and all(d["reason"].startswith("unreachable") and d["attempt"] == 3 for d in failed)
    assert manager.get_alert_statistics()["notifications_failed"] == 20


def test_spec_placeholder_slack_url_fails_later_and_is_recorded(manager: AlertManager) -> None:
    manager.register_channel(NotificationChannel(channel_type="slack", channel_name="alerts",
                                                 config={"webhook_url": "https://..."}))
    manager.register_rule(cpu_rule("alerts"))
    (alert,) = manager.evaluate_and_trigger(metric="cpu_usage", value=92)
    assert alert["state"] == "triggered"
    assert manager.flush(10)
    (failed,) = attempts(manager, "alerts")
    assert failed["result"] == "failed" and failed["reason"].startswith("invalid URL")


def test_alert_manager_with_a_readings_hub_evaluates_without_any_call(home: Path, clock: Clock) -> None:
    hub = ReadingsHub()
    with receiver() as hook:
        manager = AlertManager(readings=hub, clock=clock, home=home)
        try:
            manager.register_channel(NotificationChannel("webhook", "hook", {"url": hook.url}))
            manager.register_rule(cpu_rule("hook"))
            hub.publish([MetricReading("cpu_usage", "gauge", 99.0)])
            assert manager.flush(10)
            assert hook.requests[0].json()["alerts"][0]["annotations"]["value"] == "99"
        finally:
            manager.close()


# ------------------------------------------------------------------ e-mail


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, list[Any]]]:
    require("aiosmtpd", "pip install aiosmtpd (in the test extra)")
    from aiosmtpd.controller import Controller

    received: list[Any] = []
    arrived = threading.Event()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            received.append(envelope)
            arrived.set()
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


def test_email_to_a_real_smtp_server(manager: AlertManager, smtp_server: tuple[int, list[Any]]) -> None:
    port, received = smtp_server
    manager.register_channel(NotificationChannel("email", "mail", {
        "smtp_host": "127.0.0.1", "smtp_port": port, "from_addr": "alerts@example.com",
        "to_addrs": ["oncall@example.com", "lead@example.com"]}))
    manager.register_rule(cpu_rule("mail"))
    manager.evaluate_and_trigger("cpu_usage", 92.5, {"component": "api"})
    assert manager.flush(10)
    (envelope,) = received
    assert envelope.mail_from == "alerts@example.com"
    assert envelope.rcpt_tos == ["oncall@example.com", "lead@example.com"]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert message["Subject"] == "[FIRING] High CPU Usage (cpu_high) severity=critical"
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Value: 92.5" in plain and "component=api" in plain
    assert "<table>" in html and "92.5" in html
    assert [d["result"] for d in attempts(manager, "mail")] == ["delivered"]


def test_email_to_a_closed_port_is_retried_then_recorded(manager: AlertManager) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    manager.register_channel(NotificationChannel("email", "mail", {
        "smtp_host": "127.0.0.1", "smtp_port": port, "from_addr": "a@example.com", "to_addrs": "b@example.com",
        "username": "u", "password": "p4ssw0rd-secret"}))
    manager.register_rule(cpu_rule("mail"))
    manager.evaluate_and_trigger("cpu_usage", 92)
    assert manager.flush(10)
    assert [d["result"] for d in attempts(manager, "mail")] == ["retrying", "retrying", "failed"]
    assert "p4ssw0rd-secret" not in (manager.home / "alerts" / "audit_log.json").read_text()


# ------------------------------------------------------------------ log channel


def test_log_channel_writes_through_the_log_aggregator(clock: Clock, home: Path, pipeline: Any) -> None:
    from monitoring_layer.logging import LogAggregator

    logs = LogAggregator(pipeline.logger_provider)
    manager = AlertManager(clock=clock, home=home, log_aggregator=logs)
    try:
        manager.register_channel(NotificationChannel("log", "log", {"component": "alerting"}))
        manager.register_rule(cpu_rule("log"))
        manager.evaluate_and_trigger("cpu_usage", 92)
        assert manager.flush(10)
        (record,) = logs.get_logs(component="alerting", limit=10)
        assert record["level"] == "ERROR" and record["message"].startswith("[FIRING] High CPU Usage")
    finally:
        manager.close()


def test_secrets_never_reach_logs(manager: AlertManager, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    secret_url = f"http://127.0.0.1:{port}/hooks/XYZ-very-secret-path"
    manager.register_channel(NotificationChannel("slack", "s", {"webhook_url": secret_url}))
    manager.register_rule(cpu_rule("s"))
    manager.evaluate_and_trigger("cpu_usage", 92)
    assert manager.flush(10)
    assert attempts(manager, "s")[-1]["result"] == "failed"
    assert "very-secret" not in caplog.text
    assert "very-secret" not in "".join(p.read_text() for p in (manager.home / "alerts").glob("*.json"))


def test_lifecycle_flush_waits_for_first_attempts_and_shutdown_stops(clock: Clock, home: Path) -> None:
    from monitoring_layer import _lifecycle

    with receiver() as hook:
        manager = AlertManager(clock=clock, home=home)
        manager.register_channel(NotificationChannel("webhook", "hook", {"url": hook.url}))
        manager.register_rule(cpu_rule("hook", group_by=["host"]))
        for i in range(5):
            manager.evaluate_and_trigger("cpu_usage", 92, {"host": f"h{i}"})
        _lifecycle.run_flush()  # what monitoring_layer.flush() runs: waits until each was attempted
        assert len(hook.requests) == 5
        manager.close()
        manager.close()  # safe twice
        assert manager.evaluate_and_trigger("cpu_usage", 99, {"host": "late"})  # still evaluates...
        assert manager.flush(5) and len(hook.requests) == 5  # ...but sends nothing after close
        assert manager.get_alert_statistics()["notifications_dropped"] == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_delivers_with_its_own_sender_thread(clock: Clock, home: Path) -> None:
    import warnings

    with receiver() as hook:
        manager = AlertManager(clock=clock, home=home)
        try:
            manager.register_channel(NotificationChannel("webhook", "hook", {"url": hook.url}))
            manager.register_rule(cpu_rule("hook", group_by=["host"]))
            manager.evaluate_and_trigger("cpu_usage", 92, {"host": "parent"})
            assert manager.flush(10)  # the parent's sender thread exists now
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads: we handle it
                pid = os.fork()
            if pid == 0:
                ok = False
                try:
                    manager.evaluate_and_trigger("cpu_usage", 93, {"host": "child"})
                    ok = manager.flush(10)
                finally:
                    os._exit(0 if ok else 1)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
            hosts = [r.json()["alerts"][0]["labels"]["host"] for r in hook.wait_for(2)]
            assert hosts == ["parent", "child"]
        finally:
            manager.close()
