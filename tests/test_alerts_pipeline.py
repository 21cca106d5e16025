"""End to end: a rule fires from what the application records through the metrics facade, at ``flush()``.

Needs the pipeline to publish readings (``Pipeline.readings``, published at every collection and inside
``flush()``), and ``monitoring_layer.flush()`` to run the lifecycle flush hooks.
"""

from __future__ import annotations

import pytest
from _receivers import receiver

import monitoring_layer
from monitoring_layer import AlertManager, AlertRule, MetricsCollector, NotificationChannel

pytestmark = pytest.mark.integration


def test_rule_fires_from_recorded_metrics_at_flush(pipeline, home) -> None:
    metrics = MetricsCollector(pipeline=pipeline)
    manager = AlertManager(metrics, readings=pipeline.readings, home=home)
    try:
        with receiver() as hook:
            manager.register_channel(NotificationChannel("webhook", "hook", {"url": hook.url}))
            manager.register_rule(AlertRule("slow", "p95 latency", "request_latency", "> 500", 500, "critical",
                                            ["hook"], statistic="p95"))
            manager.register_rule(AlertRule("errors", "Errors", "errors", "> 2", 2, "high", ["hook"],
                                            labels={"service": "api"}))
            metrics.register_metric("request_latency", "histogram", description="latency", unit="ms")
            for value in (100, 200, 900, 950, 990):
                metrics.observe_histogram("request_latency", value)
            metrics.increment_counter("errors", 3, labels={"service": "api"})
            metrics.increment_counter("errors", 9, labels={"service": "batch"})
            assert manager.get_active_alerts() == []
            assert pipeline.flush()  # collects readings: the engine evaluates them
            active = {a["rule_id"]: a for a in manager.get_active_alerts()}
            assert set(active) == {"slow", "errors"}
            assert active["slow"]["value"] > 500 and active["errors"]["labels"] == {"service": "api"}
            assert manager.flush(10)
            assert len(hook.requests) == 2
    finally:
        manager.close()
        metrics.close()


def test_get_alert_manager_evaluates_the_process_wide_pipeline(process_wide) -> None:
    metrics = monitoring_layer.get_metrics_collector()
    alerts = monitoring_layer.get_alert_manager()
    assert alerts is monitoring_layer.get_alert_manager()
    alerts.register_channel(NotificationChannel("log", "log", {}))
    alerts.register_rule(AlertRule("cpu_high", "High CPU Usage", "cpu_usage", "> 85", 85, "critical", ["log"]))
    metrics.set_gauge("cpu_usage", 92)
    assert monitoring_layer.flush()  # collects, evaluates, and waits until the notice was attempted
    (alert,) = alerts.get_active_alerts()
    assert alert["rule_id"] == "cpu_high" and alert["value"] == 92
    assert alerts.get_alert_statistics()["notifications_sent"] == 1
    assert alerts.home == process_wide.settings.home


def test_readme_alerts_snippet_runs_as_written(run_python, home, tmp_path) -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme.split("## Alerts", 1)[1], re.S).group(1)
    proc = run_python(f"import os\nos.chdir({str(tmp_path)!r})\n" + code
                      + "\nprint(alerts.get_active_alerts()[0]['state'], len(alerts.get_silences()))\n")
    assert proc.stdout.strip().splitlines()[-1] == "suppressed 1"
    assert "cpu_usage > 85" in (tmp_path / "rules.yml").read_text()
