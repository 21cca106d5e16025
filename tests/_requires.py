"""``require(name, reason)``: skip a test when a binary or module is missing, fail instead when ``CI=true``."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

__all__ = ["require"]


def require(name: str, reason: str) -> str:
    """The path of binary ``name`` (or the module name when it is importable); otherwise skip the test,
    or fail it under ``CI=true`` (CI installs everything the tests need)."""
    found = shutil.which(name)
    if found is not None:
        return found
    if name.isidentifier() and importlib.util.find_spec(name) is not None:
        return name
    message = f"{name} is not available ({reason})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} and CI=true")
    pytest.skip(message)
