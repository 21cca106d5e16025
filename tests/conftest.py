"""Shared fixtures: every test gets its own MONITORING_HOME, strict mode and fresh settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from monitoring_layer import testing
from monitoring_layer.pipeline import Pipeline

# Property tests (tests/test_properties_*.py): a bounded number of examples, no
# deadline (timing is never asserted; a slow shared machine must not fail a
# test), and in CI a fixed example sequence so a red run can be re-run as is.
# Each property test builds its pipeline once and shares it between examples:
# that is intended, hence the function-scoped-fixture health check is off.
# HYPOTHESIS_PROFILE=thorough runs ten times the examples locally.
_CI = os.environ.get("CI") == "true"
settings.register_profile(
    "monitoring-layer", max_examples=40, deadline=None, derandomize=_CI, print_blob=True,
    database=None if _CI else settings.default.database,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("thorough", settings.get_profile("monitoring-layer"), max_examples=400)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "monitoring-layer"))

# Variables a developer's shell may carry that would change what the tests see.
_FOREIGN_ENV = [name for name in os.environ if name.startswith(("OTEL_", "MONITORING_"))]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _FOREIGN_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MONITORING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MONITORING_STRICT", "1")  # record-time mistakes raise in our own tests
    testing.reset()
    yield
    testing.reset()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The MONITORING_HOME of this test (not created yet)."""
    return tmp_path / "home"


@pytest.fixture
def pipeline(home: Path) -> Iterator[Pipeline]:
    """A private pipeline on this test's home (not installed globally).

    Its exporters write only when the test calls ``pipeline.flush()``: the
    interval is long so nothing depends on timing.
    """
    with testing.isolated_pipeline(home, install=False) as built:
        yield built


@pytest.fixture
def run_python(home: Path):
    """Run Python code (or a script) in a fresh interpreter with this test's environment; returns the CompletedProcess."""
    import subprocess
    import sys
    import textwrap

    def run(code: str | None = None, *, script: Path | None = None, env: dict[str, str] | None = None,
            check: bool = True, timeout: float = 60):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONITORING_"))}
        full_env.update({"MONITORING_HOME": str(home), "MONITORING_STRICT": "1"})
        full_env.update(env or {})
        argv = [sys.executable, str(script)] if script is not None else [sys.executable, "-c", textwrap.dedent(code)]
        proc = subprocess.run(argv, env=full_env,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"subprocess failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


@pytest.fixture
def process_wide(pipeline: Pipeline) -> Iterator[Pipeline]:
    """Make this test's private ``pipeline`` the process-wide one, with fresh ``get_*()`` facades on it."""
    from monitoring_layer import pipeline as pipeline_module

    assert pipeline_module._PIPELINE.peek() is None, "a test built the real process-wide pipeline"
    with testing.process_wide(pipeline):
        yield pipeline
