"""Helpers for your own tests: an isolated pipeline, and a reset between tests.

>>> from monitoring_layer import testing
>>> with testing.isolated_pipeline(home=tmp_path) as pipeline:      # doctest: +SKIP
...     get_metrics_collector().increment_counter("jobs")         # the process-wide facades use it
...     pipeline.flush()
...     assert pipeline.readings.latest()

``isolated_pipeline()`` builds a private ``Pipeline`` on its own ``MONITORING_HOME``
(a temporary folder unless given), with a one-hour export interval so nothing is
written behind the test's back (call ``pipeline.flush()``), and by default makes
it the process-wide one, with fresh ``get_*()`` facades on it; on exit it shuts
the pipeline down and puts the previous state back. ``reset()`` forgets the
settings, ``configure()`` overrides and self-metric counts.

With pytest, ``pytest_plugins = ["monitoring_layer.testing"]`` in a
``conftest.py`` gives the fixtures ``monitoring_pipeline`` (the isolated,
process-wide pipeline) and ``monitoring_reset`` (a reset before and after).
The package's own test suite uses these helpers.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from monitoring_layer import _defaults, _selfmon, config
from monitoring_layer import logging as logs_facade
from monitoring_layer import metrics as metrics_facade
from monitoring_layer import tracing as tracing_facade
from monitoring_layer.pipeline import _PIPELINE, Pipeline

__all__ = ["isolated_pipeline", "process_wide", "reset"]

# The engines first: they are built on the facades and stop before them.
_FACADES = (_defaults._ALERT_MANAGER, metrics_facade.PROCESS_WIDE, logs_facade.PROCESS_WIDE, tracing_facade.PROCESS_WIDE)


def reset() -> None:
    """Forget resolved settings, ``configure()`` overrides and self-metric counts."""
    config._reset_for_tests()
    _selfmon.reset()


@contextlib.contextmanager
def process_wide(pipeline: Pipeline) -> Iterator[Pipeline]:
    """Make ``pipeline`` the process-wide one, with fresh ``get_*()`` facades, for the block."""
    previous = _PIPELINE.peek()
    for holder in _FACADES:  # facades built on the previous pipeline are closed
        holder.replace(None)
    _PIPELINE.replace(pipeline)
    try:
        yield pipeline
    finally:
        # A facade whose close() fails must not leave this pipeline process-wide for every later test.
        with contextlib.ExitStack() as closing:
            closing.callback(_PIPELINE.replace, previous)
            for holder in reversed(_FACADES):  # an ExitStack runs them last first: _FACADES' order
                closing.callback(holder.replace, None)


@contextlib.contextmanager
def isolated_pipeline(home: str | os.PathLike[str] | None = None, *, install: bool = True,
                      **overrides: Any) -> Iterator[Pipeline]:
    """A private pipeline on ``home`` (a temporary folder when None); see the module docstring.

    ``overrides`` are settings (``configure()`` keywords), e.g. ``metrics_max_points=5``.
    ``install=False`` keeps it private (``get_*()`` are left alone).
    """
    with contextlib.ExitStack() as stack:
        if home is None:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "home"
        settings = config.resolve_settings(overrides={"export_interval_s": 3600, "home": Path(home), **overrides})
        pipeline = Pipeline(settings)
        stack.callback(pipeline.shutdown)
        if install:
            stack.enter_context(process_wide(pipeline))
        yield pipeline


try:  # pytest fixtures, for ``pytest_plugins = ["monitoring_layer.testing"]``
    import pytest
except ImportError:  # pragma: no cover - pytest is not a dependency
    pytest = None  # type: ignore[assignment]

if pytest is not None:
    @pytest.fixture
    def monitoring_reset() -> Iterator[None]:
        """Reset monitoring-layer's settings and counts before and after the test."""
        reset()
        yield
        reset()

    @pytest.fixture
    def monitoring_pipeline(tmp_path: Path) -> Iterator[Pipeline]:
        """An isolated pipeline on ``tmp_path / "home"``, process-wide for the test."""
        with isolated_pipeline(tmp_path / "home") as pipeline:
            yield pipeline
