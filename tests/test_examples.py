"""Every script in examples/ runs in a fresh interpreter and leaves valid files."""

from pathlib import Path

import pytest

from monitoring_layer.cli import check_home

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

pytestmark = pytest.mark.integration


def test_quickstart_writes_all_three_files(run_python, home):
    proc = run_python(script=EXAMPLES / "quickstart.py")
    assert f"wrote to {home}" in proc.stdout
    report = check_home(home)
    assert [f["status"] for f in report["files"]] == ["ok", "ok", "ok"]
    counts = {f["file"]: f["counts"] for f in report["files"]}
    assert counts["traces/traces.json"] == {"traces": 5, "spans": 10}
    assert counts["logs/logs.json"] == {"records": 5}
