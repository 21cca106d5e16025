"""Log levels: the spec's five names, OTel severity numbers and texts, ``logging`` numbers.

OTel's log data model numbers severities 1-24 in six ranges (TRACE, DEBUG,
INFO, WARN, ERROR, FATAL). A record of the aggregator carries the first
number of its range and OTel's short text (``WARN``, ``FATAL``); queries and
the JSON file show the spec's names (``WARNING``, ``CRITICAL``).
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry._logs import SeverityNumber

__all__ = ["LEVELS", "Level", "level_of", "level_of_severity", "parse_level"]


class Level:
    """One of the five levels: spec name, OTel severity number and text, ``logging`` number."""

    __slots__ = ("name", "severity", "severity_number", "text", "stdlib")

    def __init__(self, name: str, severity: SeverityNumber, text: str, stdlib: int) -> None:
        self.name = name
        self.severity = severity
        self.severity_number = int(severity.value)
        self.text = text
        self.stdlib = stdlib

    def __repr__(self) -> str:
        return f"Level({self.name})"


DEBUG = Level("DEBUG", SeverityNumber.DEBUG, "DEBUG", logging.DEBUG)
INFO = Level("INFO", SeverityNumber.INFO, "INFO", logging.INFO)
WARNING = Level("WARNING", SeverityNumber.WARN, "WARN", logging.WARNING)
ERROR = Level("ERROR", SeverityNumber.ERROR, "ERROR", logging.ERROR)
CRITICAL = Level("CRITICAL", SeverityNumber.FATAL, "FATAL", logging.CRITICAL)

#: The five levels, lowest first.
LEVELS: tuple[Level, ...] = (DEBUG, INFO, WARNING, ERROR, CRITICAL)

_BY_NAME = {level.name: level for level in LEVELS}
_BY_NAME.update({"WARN": WARNING, "FATAL": CRITICAL, "ERR": ERROR})


def parse_level(value: Any, argument: str = "level") -> Level:
    """A level from a name (any case: ``"info"``, ``"WARN"``, ``"fatal"``) or a ``logging`` number.

    A ``logging`` number between two levels belongs to the lower one
    (``logging.INFO + 5`` is INFO). Anything else raises ``ValueError`` naming
    ``argument``.
    """
    if isinstance(value, Level):
        return value
    if isinstance(value, str):
        level = _BY_NAME.get(value.strip().upper())
        if level is not None:
            return level
        raise ValueError(
            f"{argument}={value!r} is not a log level; use one of DEBUG, INFO, WARNING, ERROR, CRITICAL "
            "(any case) or a logging level number"
        )
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return level_of(value)
    raise ValueError(f"{argument}={value!r} is not a log level name or a positive logging level number")


def level_of(stdlib_level: int) -> Level:
    """The level a ``logging`` level number belongs to (below DEBUG: DEBUG)."""
    for level in reversed(LEVELS):
        if stdlib_level >= level.stdlib:
            return level
    return DEBUG


def level_of_severity(severity_number: int) -> Level | None:
    """The level of an OTel severity number (TRACE and unspecified: ``None``)."""
    for level in reversed(LEVELS):
        if severity_number >= level.severity_number:
            return level
    return None
