import io
import json
import os
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


# --------------------------------------------------------------------------- check: what a new user hit


def test_check_a_missing_home_is_exit_2(tmp_path, capsys):
    assert main(["check", "--home", str(tmp_path / "no" / "such" / "dir")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and f"no monitoring home at {tmp_path / 'no' / 'such' / 'dir'}" in captured.err


def test_check_strict_makes_absent_files_an_error(pipeline, home, capsys):
    _filled_home(pipeline)
    assert main(["check", "--home", str(home)]) == 0
    assert main(["check", "--home", str(home), "--strict"]) == 1
    assert "[!!] logs/logs.json: absent" in capsys.readouterr().out


def test_check_ignores_settings_it_does_not_use(pipeline, home, monkeypatch):
    from monitoring_layer import config

    _filled_home(pipeline)
    monkeypatch.setenv("MONITORING_EXPORT_INTERVAL", "abc")
    config._reset_for_tests()
    assert main(["check"]) == 0


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_check_shows_progress_on_stderr_only_on_a_terminal(pipeline, home):
    _filled_home(pipeline)
    out, err = io.StringIO(), _Terminal()
    assert main(["check", "--home", str(home), "--json"], stdout=out, stderr=err) == 0
    assert "checking traces/traces.json (0.0 MB)…" in err.getvalue() and err.getvalue().endswith("\r\033[K")
    json.loads(out.getvalue())  # the report itself is untouched
    quiet = io.StringIO()
    assert main(["check", "--home", str(home)], stdout=io.StringIO(), stderr=quiet) == 0
    assert quiet.getvalue() == ""


# --------------------------------------------------------------------------- selftest


def test_selftest_prints_each_area_as_it_finishes(monkeypatch):
    import threading

    from monitoring_layer import selftest

    out = io.StringIO()
    logs_printed = threading.Event()
    seen_by_last_area: list[str] = []

    def fake_area(key, home, timeout_s):
        if key == "traces":  # still running: the lines of the areas before it must already be out
            logs_printed.wait(timeout=60)
            seen_by_last_area.append(out.getvalue())
        return {"area": key, "title": selftest._TITLES[key], "ok": key != "logs", "reason": "boom"}

    def show(result):
        selftest.print_report([result], out)
        if result["area"] == "logs":
            logs_printed.set()

    monkeypatch.setattr(selftest, "_run_area", fake_area)
    results = selftest.run_selftest(["metrics", "logs", "traces"], workers=2, on_result=show)
    assert [r["area"] for r in results] == ["metrics", "logs", "traces"]
    assert seen_by_last_area == ["✓ PASS: Metrics Collection\n✗ FAIL: Logging System — boom\n"]
    assert out.getvalue().endswith("✓ PASS: Tracing System\n")


def test_selftest_area_and_json(monkeypatch):
    from monitoring_layer import selftest

    monkeypatch.setattr(selftest, "_run_area", lambda key, home, timeout_s: {
        "area": key, "title": selftest._TITLES[key], "ok": True, "reason": "fine"})
    out = io.StringIO()
    assert main(["selftest", "--area", "traces", "--area", "metrics"], stdout=out) == 0
    assert out.getvalue() == "✓ PASS: Tracing System\n✓ PASS: Metrics Collection\n"
    out = io.StringIO()
    assert main(["selftest", "--area", "logs", "--json"], stdout=out) == 0
    assert json.loads(out.getvalue()) == {"ok": True, "areas": [
        {"area": "logs", "title": "Logging System", "ok": True, "reason": "fine"}]}
    assert main(["selftest", "--area", "nope"]) == 2


@pytest.mark.integration
def test_selftest_one_real_area_as_json():
    proc = subprocess.run([sys.executable, "-m", "monitoring_layer", "selftest", "--area", "metrics", "--json"],
                          capture_output=True, text=True, timeout=120)
    doc = json.loads(proc.stdout)
    assert [a["area"] for a in doc["areas"]] == ["metrics"] and doc["ok"] is True and proc.returncode == 0


# --------------------------------------------------------------------------- completion


def test_completion_scripts_cover_every_subcommand(capsys):
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    for word in ("traces", "logs", "metrics", "health", "alerts", "check", "selftest", "bench", "completion",
                 "--follow", "--strict", "--incidents"):
        assert word in script
    assert script.rstrip().endswith("complete -F _monitoring_layer_complete monitoring-layer")
    assert main(["completion", "zsh"]) == 0
    assert "bashcompinit" in capsys.readouterr().out
    assert main(["completion", "fish"]) == 2


def _bash_complete(script: str, words: list[str]) -> list[str]:
    line = " ".join(words)
    program = (f"{script}\nCOMP_WORDS=({line})\nCOMP_CWORD={len(words) - 1}\n"
               "_monitoring_layer_complete\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    proc = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True, timeout=30)
    return proc.stdout.split()


@pytest.mark.integration
def test_bash_completion_completes(capsys):
    from _requires import require

    require("bash", "the bash completion script is run by bash")
    main(["completion", "bash"])
    script = capsys.readouterr().out
    assert {"traces", "logs", "metrics"} <= set(_bash_complete(script, ["monitoring-layer", "''"]))
    assert _bash_complete(script, ["monitoring-layer", "tra"]) == ["traces"]
    assert _bash_complete(script, ["monitoring-layer", "traces", "''"]) == ["list", "show"]
    assert _bash_complete(script, ["monitoring-layer", "traces", "list", "--status", "''"]) == ["SUCCESS", "ERROR"]
    assert _bash_complete(script, ["monitoring-layer", "logs", "--lev"]) == ["--level"]
    assert _bash_complete(script, ["monitoring-layer", "logs", "--level", "W"]) == ["WARNING"]
    assert _bash_complete(script, ["monitoring-layer", "alerts", "--severity", "''"]) == ["low", "medium", "high",
                                                                                            "critical"]


@pytest.mark.integration
def test_zsh_completion_loads(capsys, tmp_path):
    from _requires import require

    require("zsh", "the zsh completion script is checked by zsh")
    main(["completion", "zsh"])
    script = tmp_path / "_monitoring_layer"
    script.write_text(capsys.readouterr().out)
    # zsh calls the function through bashcompinit, in sh emulation (0-based arrays), as done here.
    program = (f"source {script} && whence -w _monitoring_layer_complete && t() {{ emulate -L sh; "
               "COMP_WORDS=(monitoring-layer traces list --status ''); COMP_CWORD=4; "
               "_monitoring_layer_complete; echo \"${COMPREPLY[@]}\"; }; t")
    proc = subprocess.run(["zsh", "-f", "-c", program],
                          capture_output=True, text=True, timeout=30, env={**os.environ, "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["_monitoring_layer_complete: function", "SUCCESS ERROR"]
