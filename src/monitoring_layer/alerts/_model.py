"""Severities, states, alert rules and their conditions: what the user declares.

Everything here is checked at construction: a bad rule or condition raises
``ValueError``/``TypeError`` naming the argument, so mistakes surface where
the rule is written, never at evaluation time.
"""

from __future__ import annotations

import enum
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ACTIVE_STATES", "AlertRule", "AlertState", "OPERATORS", "STATISTICS", "Severity",
           "parse_condition"]


class _CaseInsensitive(str, enum.Enum):
    """A string enum whose lookups ignore case: ``Severity("CRITICAL") is Severity.CRITICAL``."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            wanted = value.strip().lower()
            for member in cls:
                if member.value == wanted:
                    return member
        return None

    @classmethod
    def parse(cls, value: object, argument: str) -> Any:
        """The member for ``value`` (a member, or its value in any case); ``ValueError`` naming ``argument``."""
        if isinstance(value, cls):
            return value
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(m.value for m in cls)
            raise ValueError(f"{argument} must be one of {names} (any case), not {value!r}") from None

    def __str__(self) -> str:
        return str(self.value)


class Severity(_CaseInsensitive):
    """How bad an alert is; ``Severity("CRITICAL")`` and ``Severity("critical")`` are the same member."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class AlertState(_CaseInsensitive):
    """Where an alert is in its life: pending -> triggered -> (acknowledged) -> resolved; or suppressed."""

    PENDING = "pending"
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    SUPPRESSED = "suppressed"
    RESOLVED = "resolved"


#: States of an alert that is not over yet.
ACTIVE_STATES = frozenset({AlertState.PENDING, AlertState.TRIGGERED, AlertState.ACKNOWLEDGED,
                           AlertState.SUPPRESSED})

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne,
}
STATISTICS = ("value", "rate", "mean", "min", "max", "count", "p50", "p95", "p99")

_CONDITION = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_condition(condition: object) -> tuple[str, float]:
    """``"> 85"`` -> ``(">", 85.0)``; ``ValueError`` naming ``condition`` otherwise."""
    if not isinstance(condition, str):
        raise TypeError(f"condition must be a string such as '> 85', not {type(condition).__name__}")
    match = _CONDITION.match(condition)
    if match is None:
        raise ValueError(f"condition must be '<op> <number>' with op one of {', '.join(OPERATORS)} "
                         f"(e.g. '> 85'), not {condition!r}")
    return match.group(1), float(match.group(2))


def _number(value: object, argument: str, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{argument} must be a number, not {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond the float range
        raise ValueError(f"{argument} must be finite, not an integer of {len(str(abs(value)))} digits") from None
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"{argument} must be finite, not {value!r}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{argument} must be >= {minimum:g}, not {value!r}")
    return number


def _text(value: object, argument: str, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{argument} must be a string, not {type(value).__name__}")
    if not empty and not value.strip():
        raise ValueError(f"{argument} must not be empty")
    return value


def _str_map(value: object, argument: str, *, label_names: bool = False) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{argument} must be a mapping of strings, not {type(value).__name__}")
    result = {}
    for key, item in value.items():
        if not isinstance(key, str) or (label_names and not _LABEL_NAME.match(key)):
            raise ValueError(f"{argument} has an invalid key {key!r}")
        result[key] = str(item)
    return result


@dataclass(eq=False)
class AlertRule:
    """A threshold rule on one metric, as registered with the metrics facade (its unit, not the base unit).

    ``condition`` (``"> 85"``) and ``threshold`` must agree. Optional:
    ``labels`` selects series (every pair must be on the series), ``statistic``
    picks what is compared (``value``, ``rate`` per second of a cumulative
    series, ``mean``, ``min``, ``max``, ``count``, ``p50``, ``p95``, ``p99``),
    ``for_s`` keeps an alert pending that long before it fires,
    ``keep_firing_for_s`` keeps it firing that long after the condition clears,
    ``clear_threshold`` (hysteresis) is the value the series must get past to
    clear, ``cooldown_s`` is the minimum time between two notifications of one
    alert, ``group_by`` the labels that group alerts into incidents.

    >>> AlertRule("cpu_high", "High CPU Usage", "cpu_usage", "> 85", 85, "critical", ["alerts"])  # doctest: +SKIP
    """

    rule_id: str
    name: str
    metric: str
    condition: str
    threshold: float
    severity: Severity | str
    notification_channels: Sequence[str] = ()
    labels: Mapping[str, str] | None = None
    statistic: str = "value"
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    clear_threshold: float | None = None
    cooldown_s: float = 300.0
    group_by: Sequence[str] | None = None
    description: str = ""
    annotations: Mapping[str, str] | None = None
    enabled: bool = True
    op: str = field(init=False, repr=False)
    compare: Callable[[float, float], bool] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rule_id = _text(self.rule_id, "rule_id")
        self.name = _text(self.name, "name")
        self.metric = _text(self.metric, "metric")
        self.op, number = parse_condition(self.condition)
        self.threshold = _number(self.threshold, "threshold")
        if number != self.threshold:
            raise ValueError(f"threshold={self.threshold:g} disagrees with condition={self.condition!r}")
        self.condition = f"{self.op} {_fmt(self.threshold)}"
        self.compare = OPERATORS[self.op]
        self.severity = Severity.parse(self.severity, "severity")
        if isinstance(self.notification_channels, str) or not isinstance(self.notification_channels or (), Iterable):
            raise TypeError("notification_channels must be a list of channel names, "
                            f"not {type(self.notification_channels).__name__}")
        self.notification_channels = tuple(_text(c, "notification_channels[]")
                                           for c in (self.notification_channels or ()))
        self.labels = _str_map(self.labels, "labels", label_names=True)
        if self.statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {', '.join(STATISTICS)}, not {self.statistic!r}")
        self.for_s = _number(self.for_s, "for_s", minimum=0)
        self.keep_firing_for_s = _number(self.keep_firing_for_s, "keep_firing_for_s", minimum=0)
        self.cooldown_s = _number(self.cooldown_s, "cooldown_s", minimum=0)
        if self.clear_threshold is not None:
            self.clear_threshold = _number(self.clear_threshold, "clear_threshold")
            if self.op in ("==", "!="):
                raise ValueError(f"clear_threshold needs an ordering condition (>, >=, <, <=), not {self.op!r}")
            # Hysteresis only makes sense on the safe side of the threshold.
            if (self.op in (">", ">=") and self.clear_threshold > self.threshold) or (
                    self.op in ("<", "<=") and self.clear_threshold < self.threshold):
                raise ValueError(f"clear_threshold={self.clear_threshold:g} must be on the clear side of "
                                 f"condition={self.condition!r}")
        group_by = ("component",) if self.group_by is None else self.group_by
        if isinstance(group_by, str) or not isinstance(group_by, Iterable):
            raise TypeError(f"group_by must be a list of label names, not {type(group_by).__name__}")
        self.group_by = tuple(_text(g, "group_by[]") for g in group_by)
        self.description = _text(self.description, "description", empty=True)
        self.annotations = _str_map(self.annotations, "annotations")
        if not isinstance(self.enabled, bool):
            raise TypeError("enabled must be a bool")

    def fires(self, value: float) -> bool:
        """True when ``value`` meets the condition."""
        return self.compare(value, self.threshold)

    def still_firing(self, value: float) -> bool:
        """True while a firing alert must stay firing (the clear threshold, when set, is the bound)."""
        if self.clear_threshold is None:
            return self.compare(value, self.threshold)
        return self.compare(value, self.clear_threshold)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when every label pair of the rule is on the series."""
        return all(labels.get(k) == v for k, v in self.labels.items())  # type: ignore[union-attr]

    def to_dict(self) -> dict[str, Any]:
        """The rule as stored in ``alerts/rules.json`` and returned by queries."""
        return {
            "rule_id": self.rule_id, "name": self.name, "metric": self.metric, "condition": self.condition,
            "threshold": self.threshold, "severity": str(self.severity),
            "notification_channels": list(self.notification_channels), "labels": dict(self.labels or {}),
            "statistic": self.statistic, "for_s": self.for_s, "keep_firing_for_s": self.keep_firing_for_s,
            "clear_threshold": self.clear_threshold, "cooldown_s": self.cooldown_s,
            "group_by": list(self.group_by or ()), "description": self.description,
            "annotations": dict(self.annotations or {}), "enabled": self.enabled,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertRule:
        """A rule from ``to_dict()`` output (a reloaded ``rules.json`` entry)."""
        keys = ("rule_id", "name", "metric", "condition", "threshold", "severity", "notification_channels",
                "labels", "statistic", "for_s", "keep_firing_for_s", "clear_threshold", "cooldown_s",
                "group_by", "description", "annotations", "enabled")
        return cls(**{k: data[k] for k in keys if k in data})


def _fmt(number: float) -> str:
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
