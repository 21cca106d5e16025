"""Skip a test whose optional module or binary is missing, except under CI=true, where it fails.

CI (``.ci/run``) installs everything the tests need, so a missing piece there is
a broken setup, not a reason to skip.
"""

from __future__ import annotations

import importlib
import os
import shutil
from typing import Any

import pytest

__all__ = ["in_ci", "require", "unavailable"]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip with ``reason``; under CI=true, fail with it."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: tests must not skip)")
    pytest.skip(reason)


def require(name: str, reason: str) -> Any:
    """The module ``name`` (or the path of the binary ``name`` when prefixed with ``bin:``)."""
    if name.startswith("bin:"):
        path = shutil.which(name[4:])
        if path is None:
            unavailable(f"{name[4:]} is not installed: {reason}")
        return path
    try:
        return importlib.import_module(name)
    except ImportError:
        unavailable(f"{name} is not installed: {reason}")
