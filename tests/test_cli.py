import json
import subprocess
import sys

import pytest

from monitoring_layer import __version__
from monitoring_layer.cli import main


def _filled_home(pipeline):
    pipeline.tracer_provider.get_tracer("t").start_span("checked").end()
    pipeline.meter_provider.get_meter("t").create_counter("checked_things").add(3)
    assert pipeline.flush()


def test_check_summarises_a_valid_home(pipeline, home, capsys):
    _filled_home(pipeline)
    assert main(["check", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert f"monitoring home: {home}" in out
    assert "[ok] traces/traces.json: ok (1 traces, 1 spans) from 20" in out
    assert "[ok] metrics/metrics_registry.json: ok (" in out
    assert "[--] logs/logs.json: absent" in out


def test_check_uses_monitoring_home_by_default(pipeline, home, capsys):
    _filled_home(pipeline)
    assert main(["check", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["home"] == str(home)
    traces = next(f for f in report["files"] if f["file"] == "traces/traces.json")
    assert traces["status"] == "ok" and traces["counts"] == {"traces": 1, "spans": 1}


def test_check_fails_on_an_invalid_file_and_names_the_problem(pipeline, home, capsys):
    _filled_home(pipeline)
    doc = json.loads((home / "traces/traces.json").read_text())
    doc["traces"][0]["trace_id"] = "not-hex"
    (home / "traces/traces.json").write_text(json.dumps(doc))
    (home / "metrics/metrics_registry.json").write_text("{truncated")
    assert main(["check", "--home", str(home)]) == 1
    out = capsys.readouterr().out
    assert "[!!] traces/traces.json: invalid" in out and "$.traces[0].trace_id: 'not-hex' does not match" in out
    assert "[!!] metrics/metrics_registry.json: invalid" in out and "not readable JSON" in out
    # read-only: the broken file is left where it is for the user to look at
    assert (home / "metrics/metrics_registry.json").read_text() == "{truncated"


def test_version_and_help_through_python_m():
    out = subprocess.run([sys.executable, "-m", "monitoring_layer", "--version"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"monitoring-layer {__version__}"
    help_text = subprocess.run([sys.executable, "-m", "monitoring_layer", "--help"],
                               capture_output=True, text=True, check=True).stdout
    assert "check" in help_text


def test_console_script_is_installed():
    import shutil

    script = shutil.which("monitoring-layer") or str(__import__("pathlib").Path(sys.executable).parent / "monitoring-layer")
    out = subprocess.run([script, "--version"], capture_output=True, text=True, check=True).stdout
    assert __version__ in out


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage: monitoring-layer" in capsys.readouterr().out


def test_bad_home_setting_is_reported(monkeypatch, capsys):
    from monitoring_layer import config

    monkeypatch.setenv("MONITORING_HOME", "")
    config._reset_for_tests()
    assert main(["check"]) == 2
    assert "MONITORING_HOME" in capsys.readouterr().err
