"""``export_prometheus_rules``: base-unit names and thresholds, and ``promtool check rules`` accepts the file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from _requires import require

from monitoring_layer import AlertManager, AlertRule, MetricsCollector, NotificationChannel
from monitoring_layer.alerts._promrules import duration


@pytest.fixture
def exported(pipeline, home: Path, tmp_path: Path) -> tuple[str, Path]:
    metrics = MetricsCollector(pipeline=pipeline)
    metrics.register_metric("request_latency", "histogram", description="Request latency", unit="ms")
    metrics.register_metric("queue_delay", "gauge", description="Queue delay", unit="ms")
    metrics.register_metric("request_count", "counter", description="Requests")
    metrics.register_metric("disk_used", "gauge", description="Disk used", unit="MB")
    manager = AlertManager(metrics, home=home)
    try:
        manager.register_channel(NotificationChannel("log", "log", {}))
        rules = [
            AlertRule("slow_queue", "Queue slow", "queue_delay", "> 500", 500, "high", ["log"], for_s=30,
                      keep_firing_for_s=60, labels={"queue": "orders"}, description='Queue "orders" is slow'),
            AlertRule("latency_p95", "p95 latency", "request_latency", "> 500", 500, "critical", ["log"],
                      statistic="p95", for_s=1.5),
            AlertRule("request_rate", "Too many requests", "request_count", ">= 100", 100, "low", ["log"],
                      statistic="rate"),
            AlertRule("disk_full", "Disk full", "disk_used", "> 900", 900, "medium", ["log"]),
            AlertRule("latency_max", "max latency", "request_latency", "> 900", 900, "low", ["log"],
                      statistic="max"),
            AlertRule("cpu-high", "CPU", "cpu_usage", "> 85", 85, "critical", ["log"]),
        ]
        for rule in rules:
            manager.register_rule(rule)
        path = tmp_path / "rules.yml"
        text = manager.export_prometheus_rules(path)
    finally:
        manager.close()
        metrics.close()
    return text, path


def test_names_and_thresholds_are_in_base_units(exported: tuple[str, Path]) -> None:
    text, path = exported
    assert path.read_text() == text
    assert 'expr: "queue_delay_seconds{queue=\\"orders\\"} > 0.5"' in text
    assert 'expr: "histogram_quantile(0.95, rate(request_latency_seconds_bucket[5m])) > 0.5"' in text
    assert 'expr: "rate(request_count_total[5m]) >= 100"' in text
    assert 'expr: "disk_used_bytes > 900000000"' in text
    assert "for: 30s" in text and "keep_firing_for: 60s" in text and "for: 1500ms" in text
    assert "# skipped latency_max: statistic 'max'" in text
    assert "- alert: cpu_high" in text and 'expr: "cpu_usage > 85"' in text
    assert '"summary": "Queue slow"' in text


@pytest.mark.integration
def test_promtool_accepts_the_file(exported: tuple[str, Path]) -> None:
    promtool = require("promtool", "Debian package prometheus")
    _text, path = exported
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_durations() -> None:
    assert duration(90) == "90s" and duration(0.25) == "250ms"
