"""mypy: zero errors on the package, and a user's mypy finds the (editable) install and its TypedDicts."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from _requires import require

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.integration


def test_status_literals_are_the_status_vocabulary() -> None:
    from typing import get_args, get_type_hints

    from monitoring_layer import _status
    from monitoring_layer.types import SpanDict, SpanStatus, TraceDict, TraceStatus

    assert set(get_args(SpanStatus)) == {*_status.SPAN_STATUSES, _status.ACTIVE}
    assert set(get_args(TraceStatus)) == {*_status.TRACE_STATUSES, _status.ACTIVE}
    assert get_type_hints(SpanDict)["status"] == SpanStatus
    assert get_type_hints(TraceDict)["status"] == TraceStatus


def _mypy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    require("mypy", "the test extra installs mypy")
    return subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600, check=False)


def test_package_has_no_type_errors() -> None:
    result = _mypy("-p", "monitoring_layer", cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_users_mypy_finds_the_package_and_its_result_types(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent("""
        from typing import Literal

        import monitoring_layer
        from monitoring_layer.exporters import JsonFileMetricExporter

        metrics = monitoring_layer.get_metrics_collector()
        stats = metrics.get_metric_statistics("request_latency")
        p95: float | None = stats["p95"]
        typo = stats["p959"]
        trace = monitoring_layer.get_tracing_collector().get_trace("0" * 32)
        if trace is not None:
            spans: int = trace["span_count"]
            # Status words are Literals of the library's vocabulary, not any str.
            trace_status: Literal["SUCCESS", "ERROR", "ACTIVE"] = trace["status"]
            span_status: Literal["SUCCESS", "ERROR", "TIMEOUT", "CANCELLED", "ABANDONED", "ACTIVE"] = (
                trace["spans"][0]["status"])
        record = monitoring_layer.get_log_aggregator().get_logs()[0]
        level: int = record["level"]
    """))
    result = _mypy("--cache-dir", str(tmp_path / "cache"), str(app), cwd=tmp_path)  # outside the checkout
    out = result.stdout + result.stderr
    assert "Cannot find implementation or library stub" not in out, out
    assert "import-not-found" not in out and "import-untyped" not in out, out
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert len(errors) == 2, out
    assert 'has no key "p959"' in errors[0]  # the typo is caught
    assert 'expression has type "str", variable has type "int"' in errors[1]  # a log record's level is a str
