"""MonitoringIntegration.record_policy_check: the governance metrics, on fakes and on the real collectors."""

from __future__ import annotations

import pytest
from _recorders import Exploding, FakeLogs, FakeMetrics, FakeTraces

from monitoring_layer import MonitoringIntegration, _selfmon, config
from monitoring_layer.logging import LogAggregator
from monitoring_layer.metrics import MetricsCollector


def test_checks_violations_and_compliance_on_fakes():
    metrics, logs = FakeMetrics(), FakeLogs()
    integration = MonitoringIntegration(metrics, logs, FakeTraces())
    assert integration.record_policy_check("pii_masking", True)["compliance_score"] == 100.0
    integration.record_policy_check("retention", True)
    result = integration.record_policy_check("pii_masking", False, resource="orders", details={"column": "email"})
    assert result == {"policy": "pii_masking", "passed": False, "checks": 3, "violations": 1,
                      "compliance_score": pytest.approx(200 / 3)}
    assert metrics.registered["governance_compliance_score"][0] == "gauge"
    assert metrics.total("governance_policies_checked", policy="pii_masking") == 2
    assert metrics.total("governance_policies_checked", policy="retention") == 1
    assert metrics.total("governance_violations_detected") == 1
    assert metrics.label_sets("governance_violations_detected") == [{"policy": "pii_masking"}]
    assert metrics.values("governance_compliance_score") == [100.0, 100.0, pytest.approx(200 / 3)]
    (record,) = logs.records
    assert record["level"] == "WARNING" and record["message"] == "[GOVERNANCE] pii_masking - violation"
    assert record["resource"] == "orders" and record["details"] == "{'column': 'email'}"


def test_on_the_real_collectors(pipeline):
    metrics = MetricsCollector(pipeline=pipeline)
    logs = LogAggregator(pipeline.logger_provider, settings=pipeline.settings)
    integration = MonitoringIntegration(metrics, logs)
    for passed in (True, True, True, False):
        integration.record_policy_check("schema_contract", passed)
    assert metrics.get_metric_statistics("governance_policies_checked")["total"] == 4
    assert metrics.get_metric_statistics("governance_violations_detected")["total"] == 1
    assert metrics.get_metric_statistics("governance_compliance_score")["last"] == 75.0
    assert [r["message"] for r in logs.get_logs(component="governance")] == [
        "[GOVERNANCE] schema_contract - violation"]


def test_bad_arguments_are_refused():
    integration = MonitoringIntegration(FakeMetrics(), FakeLogs(), FakeTraces())
    with pytest.raises(TypeError, match="passed"):
        integration.record_policy_check("p", "yes")
    with pytest.raises(ValueError, match="policy"):
        integration.record_policy_check(" ", True)
    with pytest.raises(TypeError, match="resource"):
        integration.record_policy_check("p", True, resource=3)


def test_broken_collectors_are_contained(monkeypatch):
    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()
    integration = MonitoringIntegration(Exploding(), Exploding(), FakeTraces())
    assert integration.record_policy_check("p", False)["violations"] == 1
    assert _selfmon.counts()["errors"]["instrumentation"] == 2  # the metrics, then the log
