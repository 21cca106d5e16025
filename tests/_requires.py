"""Skip a test whose system package or optional extra is missing, except in CI, where it fails."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest


def require(name: str, reason: str) -> None:
    """Skip (or, with ``CI=true``, fail) unless ``name`` is an importable module or a binary on PATH."""
    if shutil.which(name) or importlib.util.find_spec(name) is not None:
        return
    message = f"{name} is not installed: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: this test must run)")
    pytest.skip(message)
