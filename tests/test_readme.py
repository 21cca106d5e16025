"""The README's quick start is what CI runs, and what it shows exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _quick_start_commands():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_quick_start_is_two_commands():
    commands = _quick_start_commands()
    assert len(commands) == 2, commands
    assert all("\n" not in c for c in commands)


def test_ci_runs_the_readme_test_command():
    _, test_command = _quick_start_commands()
    assert "pytest" in test_command
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines


def test_main_job_is_the_demo():
    main_command, _ = _quick_start_commands()
    assert main_command.endswith(".venv/bin/monitoring-layer demo --duration 30")
    import subprocess
    import sys

    shown = subprocess.run([sys.executable, "-m", "monitoring_layer", "demo", "--help"], capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0 and "--duration" in shown.stdout


def test_usage_snippet_runs_as_written(run_python):
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme.split("## Using it", 1)[1], re.S).group(1)
    proc = run_python(code + "\nprint(logs.get_error_summary(), len(traces.get_trace(trace_id)['spans']))\n")
    assert proc.stdout.strip() == "{'TimeoutError': 1} 2"
