"""``monitoring-layer selftest``: the spec's eight lines, honest failures, exit status."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

import monitoring_layer
from monitoring_layer import selftest
from monitoring_layer.cli import main

SPEC_TITLES = ["Metrics Collection", "Logging System", "Tracing System", "Health Checks", "Alert System",
               "Dashboard", "Platform Integration", "Decorators"]
GETTERS = {"metrics": ["get_metrics_collector"], "logs": ["get_log_aggregator"],
           "traces": ["get_tracing_collector"], "health": ["get_health_check_manager"],
           "alerts": ["get_alert_manager"], "dashboard": ["get_observability_dashboard"],
           "integration": ["get_metrics_collector", "get_log_aggregator", "get_tracing_collector"],
           "decorators": ["get_metrics_collector", "get_log_aggregator", "get_tracing_collector"]}


def test_areas_are_the_specs_eight_in_order():
    assert [title for _, title in selftest.AREAS] == SPEC_TITLES
    assert list(selftest.CHECKS) == [key for key, _ in selftest.AREAS]


def test_render_uses_the_specs_lines():
    results = [{"title": "Metrics Collection", "ok": True, "reason": "fine"},
               {"title": "Health Checks", "ok": False, "reason": "not implemented"}]
    assert selftest.render(results) == ["✓ PASS: Metrics Collection", "✗ FAIL: Health Checks — not implemented"]
    ascii_out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    selftest.print_report(results, ascii_out)  # a terminal without ✓ still gets the report
    ascii_out.seek(0)
    assert ascii_out.read().splitlines()[:2] == ["+ PASS: Metrics Collection",
                                                 "x FAIL: Health Checks - not implemented"]


def test_a_missing_facade_is_not_implemented_never_a_pass(monkeypatch):
    monkeypatch.delattr(monitoring_layer, "get_metrics_collector", raising=False)
    for key in ("metrics", "integration", "decorators"):
        verdict = selftest.run_check(key)
        assert verdict == {"ok": False,
                           "reason": "not implemented (monitoring_layer.get_metrics_collector does not exist)"}


def test_a_failing_check_reports_its_reason(monkeypatch):
    def broken():
        raise AssertionError("counter is 2, expected 3")

    monkeypatch.setitem(selftest.CHECKS, "metrics", broken)
    assert selftest.run_check("metrics") == {"ok": False, "reason": "AssertionError: counter is 2, expected 3"}


def test_unknown_area_is_refused():
    with pytest.raises(ValueError, match="unknown selftest area 'nope'"):
        selftest.run_selftest(["nope"])


@pytest.mark.integration
def test_selftest_command_prints_eight_lines_and_exits_1_on_failure(capsys):
    status = main(["selftest"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ", 1)[1].split(" — ")[0] for line in lines[:8]] == SPEC_TITLES
    for (key, _), line in zip(selftest.AREAS, lines, strict=False):
        missing = [g for g in GETTERS[key] if not hasattr(monitoring_layer, g)]
        if missing:
            assert line.startswith("✗ FAIL: ") and f"— not implemented (monitoring_layer.{missing[0]}" in line
        else:
            assert line.startswith("✓ PASS: "), line
    assert len(lines) == 8  # the spec's lines and nothing else
    assert status == (0 if all(line.startswith("✓") for line in lines[:8]) else 1)


@pytest.mark.integration
def test_an_area_runs_in_its_own_interpreter_and_reports_json(home):
    proc = subprocess.run([sys.executable, "-m", "monitoring_layer.selftest", "health"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and '"area": "health", "ok": true' in proc.stdout, proc.stdout + proc.stderr
    bad = subprocess.run([sys.executable, "-m", "monitoring_layer.selftest", "everything"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "usage" in bad.stderr


@pytest.mark.integration
def test_the_dashboard_area_passes():
    (result,) = selftest.run_selftest(["dashboard"])
    assert result["ok"], result["reason"]
