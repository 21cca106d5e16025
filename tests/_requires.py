"""Skip a test whose optional module or system binary is missing; under CI=true, fail instead.

CI installs every extra and system package the tests need (.ci/run), so a
missing one there is a broken setup, not a reason to skip.
"""

from __future__ import annotations

import importlib
import os
import shutil
from typing import Any

import pytest

__all__ = ["require"]


def require(module_or_binary: str, reason: str) -> Any:
    """The imported module (or the binary's path); skips with ``reason`` when missing, fails under ``CI=true``."""
    found: Any = None
    try:
        found = importlib.import_module(module_or_binary)
    except ImportError:
        found = shutil.which(module_or_binary)
    if found is not None:
        return found
    message = f"{module_or_binary} is missing: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: .ci/run must install it)", pytrace=False)
    pytest.skip(message, allow_module_level=True)
