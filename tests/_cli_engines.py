"""Shared by the CLI tests of the engines' files: a home whose health and alert files two processes wrote."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from monitoring_layer.cli import main

TESTS = Path(__file__).parent
T0 = 1_795_000_000_000_000_000
NOW = T0 + 65 * 1_000_000_000


def seed(run_python, part: str) -> None:
    run_python(f"import os, pathlib, sys; sys.path.insert(0, {str(TESTS)!r}); import _seeded_home; "
               f"_seeded_home.write_engines(pathlib.Path(os.environ['MONITORING_HOME']), {part!r})")


@pytest.fixture
def seeded(home, run_python):
    seed(run_python, "a")
    seed(run_python, "b")
    return home


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err, clock=lambda: NOW)
    return status, out.getvalue(), err.getvalue()
