"""The package's exceptions: one base, ``MonitoringError``, and the rest under it.

Each also derives from the built-in exception callers already catch for that
kind of problem (``ConfigError`` is a ``ValueError``, ``UnknownMetricError`` a
``KeyError``), so ``except ValueError`` keeps working while
``except monitoring_layer.MonitoringError`` catches everything of ours.
Internal helper (lowest layer): imports nothing of ours.
"""

from __future__ import annotations

__all__ = ["ConfigError", "MonitoringError", "UnknownMetricError"]


class MonitoringError(Exception):
    """Base of every exception monitoring-layer raises on purpose."""


class ConfigError(MonitoringError, ValueError):
    """A setting has a bad value, or cannot change any more.

    The message names the environment variable or ``configure()`` argument and
    the value that was refused.
    """


class UnknownMetricError(MonitoringError, KeyError):
    """Raised by queries for a metric name that was never registered nor recorded."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown metric"
