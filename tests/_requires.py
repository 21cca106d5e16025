"""``require(module_or_binary, reason)``: skip a test when something optional is missing, fail under CI=true."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

__all__ = ["require"]


def require(name: str, reason: str) -> str:
    """The path of binary ``name`` (or the module name when ``name`` is importable).

    Missing: the test skips with ``reason``, or fails when ``CI=true`` (CI installs it).
    """
    path = shutil.which(name)
    if path is not None:
        return path
    try:
        if importlib.util.find_spec(name) is not None:
            return name
    except (ImportError, ValueError):
        pass
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is missing and CI=true: {reason}")
    pytest.skip(f"{name} is missing: {reason}")
