"""Skip a test when something it needs is missing, except under CI (CI=true), where it fails."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest


def require(module_or_binary: str, reason: str) -> None:
    """Skip (or, with ``CI=true``, fail) unless ``module_or_binary`` is importable or is an executable."""
    if module_or_binary.startswith("/"):
        found = os.path.isfile(module_or_binary) and os.access(module_or_binary, os.X_OK)
    else:
        found = importlib.util.find_spec(module_or_binary) is not None or shutil.which(module_or_binary) is not None
    if found:
        return
    message = f"{module_or_binary} is missing: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: .ci/run installs it)")
    pytest.skip(message)
