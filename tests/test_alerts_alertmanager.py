"""Integration: a real Alertmanager (Debian ``prometheus-alertmanager``) receives our alerts.

The test starts Alertmanager on loopback with a temporary config and storage,
clustering off, and a webhook receiver pointing back at the test. Our
``alertmanager`` channel pushes a firing alert: Alertmanager's API v2 lists it
(with our fingerprint), its webhook notification reaches the test; then the
alert resolves and the resolved notification arrives. Skipped without the
binary, failed under ``CI=true``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _receivers import Receiver, receiver
from _loopback import free_port, get_json
from _requires import require

from monitoring_layer import AlertManager, AlertRule, NotificationChannel

pytestmark = pytest.mark.integration




def _until(condition: Any, timeout: float = 30.0) -> Any:
    """Poll an external server's state (Alertmanager works on its own timers) until ``condition()`` is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[str, Receiver]]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager") or require(
        "prometheus-alertmanager", "Debian package prometheus-alertmanager")
    with receiver() as hook:
        config = tmp_path / "alertmanager.yml"
        config.write_text(
            "route:\n  receiver: test\n  group_by: ['alertname']\n  group_wait: 0s\n  group_interval: 1s\n"
            "  repeat_interval: 1h\n"
            "receivers:\n  - name: test\n    webhook_configs:\n"
            f"      - url: '{hook.url}/am'\n        send_resolved: true\n")
        port = free_port()
        log = (tmp_path / "alertmanager.log").open("w")
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
            stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            ready = _until(lambda: process.poll() is not None or get_json(url + "/api/v2/status") is not None)
            assert process.poll() is None and ready, (tmp_path / "alertmanager.log").read_text()
            yield url, hook
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def test_alertmanager_lists_notifies_and_resolves(alertmanager: tuple[str, Receiver], home: Path) -> None:
    url, hook = alertmanager
    manager = AlertManager(home=home)
    try:
        manager.register_channel(NotificationChannel("alertmanager", "am", {"url": url}))
        manager.register_rule(AlertRule(
            rule_id="cpu_high", name="High CPU Usage", metric="cpu_usage", condition="> 85", threshold=85,
            severity="critical", notification_channels=["am"]))
        (alert,) = manager.evaluate_and_trigger("cpu_usage", 92, {"component": "api"})
        assert manager.flush(10)
        assert [d["details"]["result"] for d in manager.get_audit_log() if d["event"] == "notification"] == \
            ["delivered"]

        listed = _until(lambda: get_json(url + "/api/v2/alerts?active=true"))
        (am_alert,) = listed
        assert am_alert["labels"] == {"alertname": "cpu_high", "severity": "critical", "component": "api"}
        assert am_alert["fingerprint"] == alert["fingerprint"]  # the same label-set fingerprint
        assert am_alert["annotations"]["summary"] == "High CPU Usage"
        assert am_alert["status"]["state"] == "active"

        firing = hook.wait_for(1, timeout=30)
        body = firing[0].json()
        assert firing[0].path == "/am" and body["status"] == "firing"
        assert body["alerts"][0]["labels"]["alertname"] == "cpu_high"
        assert body["alerts"][0]["fingerprint"] == alert["fingerprint"]

        manager.evaluate_and_trigger("cpu_usage", 10, {"component": "api"})
        assert manager.flush(10)
        resolved = _until(lambda: [r for r in hook.requests if r.json()["status"] == "resolved"])
        assert resolved and resolved[0].json()["alerts"][0]["status"] == "resolved"
        assert _until(lambda: get_json(url + "/api/v2/alerts") == [])  # resolved alerts are no longer listed
    finally:
        manager.close()


def test_alertmanager_rejecting_a_bad_alert_is_not_retried(alertmanager: tuple[str, Receiver], home: Path) -> None:
    url, _hook = alertmanager
    manager = AlertManager(home=home)
    try:
        manager.register_channel(NotificationChannel("alertmanager", "am", {"url": url}))
        # An empty label value is dropped by Alertmanager; a label name it refuses gives 400.
        manager.register_rule(AlertRule(
            rule_id="bad", name="Bad", metric="m", condition="> 1", threshold=1, severity="low",
            notification_channels=["am"]))
        manager.evaluate_and_trigger("m", 5, {"0bad-name": "x"})
        assert manager.flush(10)
        results = [(d["details"]["result"], d["details"]["status"]) for d in manager.get_audit_log()
                   if d["event"] == "notification"]
        assert results == [("failed", 400)]
    finally:
        manager.close()
