"""Which rules apply to a reading, found without looking at every rule.

Rules are grouped by metric; within a metric, a rule with label matchers is
filed under its first matcher pair, so a reading only meets the rules filed
under one of its own label pairs (plus the rules without matchers). With
10,000 rules over 1,000 series, a collection costs what the matching rules
cost, not rules x series.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ._model import AlertRule

__all__ = ["RuleIndex"]


class _MetricRules:
    __slots__ = ("unlabeled", "by_pair")

    def __init__(self) -> None:
        self.unlabeled: list[AlertRule] = []
        self.by_pair: dict[tuple[str, str], list[AlertRule]] = {}


class RuleIndex:
    """``metric -> rules``, with matcher pairs indexed."""

    def __init__(self) -> None:
        self._metrics: dict[str, _MetricRules] = {}

    def rebuild(self, rules: Mapping[str, AlertRule]) -> None:
        metrics: dict[str, _MetricRules] = {}
        for rule in rules.values():
            if not rule.enabled:
                continue
            entry = metrics.setdefault(rule.metric, _MetricRules())
            if rule.labels:
                pair = min(rule.labels.items())
                entry.by_pair.setdefault(pair, []).append(rule)
            else:
                entry.unlabeled.append(rule)
        self._metrics = metrics  # swapped whole: readers never see half an index

    def has(self, metric: str) -> bool:
        return metric in self._metrics

    def rules_for(self, metric: str, labels: Mapping[str, str]) -> Iterator[AlertRule]:
        """Enabled rules on ``metric`` whose matchers all hold on ``labels``."""
        entry = self._metrics.get(metric)
        if entry is None:
            return
        yield from entry.unlabeled
        if entry.by_pair:
            for pair in labels.items():
                candidates = entry.by_pair.get(pair)
                if candidates:
                    for rule in candidates:
                        if len(rule.labels) == 1 or rule.matches(labels):  # type: ignore[arg-type]
                            yield rule
