"""Shared fixtures: every test gets its own MONITORING_HOME, strict mode and fresh settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitoring_layer import _selfmon, config
from monitoring_layer.pipeline import Pipeline

# Variables a developer's shell may carry that would change what the tests see.
_FOREIGN_ENV = [name for name in os.environ if name.startswith(("OTEL_", "MONITORING_"))]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _FOREIGN_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MONITORING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MONITORING_STRICT", "1")  # record-time mistakes raise in our own tests
    config._reset_for_tests()
    _selfmon.reset()
    yield
    config._reset_for_tests()
    _selfmon.reset()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The MONITORING_HOME of this test (not created yet)."""
    return tmp_path / "home"


@pytest.fixture
def pipeline() -> Iterator[Pipeline]:
    """A private pipeline on this test's home (not installed globally).

    Its exporters write only when the test calls ``pipeline.flush()``: the
    interval is long so nothing depends on timing.
    """
    settings = config.resolve_settings(overrides={"export_interval_s": 3600})
    built = Pipeline(settings)
    yield built
    built.shutdown()
