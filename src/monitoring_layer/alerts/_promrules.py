"""The threshold rules as a Prometheus alerting-rules file (YAML written here; no YAML dependency).

Rules name metrics as registered with the facade, in the registered unit
(``request_latency`` in ms). The exposition shows base units
(``request_latency_seconds``), so each expression uses the Prometheus name
and the threshold is converted by the unit's factor (ms -> s: / 1000). The
type, unit and Prometheus name come from the latest reading of the metric,
else from the metrics collector; a rule whose metric neither knows is
written with its name and threshold unchanged (and a comment saying so).

Statistics map to PromQL: ``value`` -> the sample, ``rate`` ->
``rate(...[window])`` (``deriv`` for gauges), ``count``/``mean`` -> the
``_count``/``_sum`` series, ``p50/p95/p99`` -> ``histogram_quantile`` over
``_bucket`` (a summary's ``quantile`` label). ``min``, ``max`` and a
histogram's last ``value`` have no PromQL equivalent: such rules are listed
as comments, not exported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from monitoring_layer._units import base_unit, ucum_unit

from ._model import AlertRule

__all__ = ["render_rules", "metric_info", "duration"]

_NAME_BAD = re.compile(r"[^A-Za-z0-9_]")


def duration(seconds: float) -> str:
    """A Prometheus duration: ``90`` -> ``"90s"``, ``1.5`` -> ``"1500ms"``."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def metric_info(name: str, collector: Any, latest: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """``(type, unit as registered, prometheus name)`` of metric ``name``, or None when unknown."""
    reading = latest.get(name)
    if reading is not None and reading.prometheus_name:
        return reading.type, reading.unit, reading.prometheus_name
    if collector is None:
        return None
    try:
        prometheus = collector.prometheus_name(name)
    except (KeyError, ValueError):
        return None
    entry = {}
    export = getattr(collector, "export_metrics", None)
    if export is not None:
        entry = export().get("metrics", {}).get(name, {})
    return str(entry.get("type", "gauge")), str(entry.get("unit", "")), prometheus


def _factor(unit: str) -> float:
    _, mul, div = base_unit(ucum_unit(unit) if unit else "")
    return mul / div


def _selector(labels: Mapping[str, str], extra: Mapping[str, str] | None = None) -> str:
    pairs = {**labels, **(extra or {})}
    if not pairs:
        return ""
    body = ",".join(f'{k}={json.dumps(v)}' for k, v in sorted(pairs.items()))
    return "{" + body + "}"


def _number(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _expression(rule: AlertRule, kind: str, family: str, window: str) -> str | None:
    labels = dict(rule.labels or {})
    sel = _selector(labels)
    stat = rule.statistic
    base = family.removesuffix("_total") if kind == "counter" else family
    if stat == "value":
        return None if kind in ("histogram", "summary") else f"{family}{sel}"
    if stat == "rate":
        if kind == "counter":
            return f"rate({family}{sel}[{window}])"
        if kind in ("gauge", "updowncounter"):
            return f"deriv({family}{sel}[{window}])"
        return None
    if kind not in ("histogram", "summary"):
        return None
    if stat == "count":
        return f"{base}_count{sel}"
    if stat == "mean":
        return f"{base}_sum{sel} / {base}_count{sel}"
    if stat in ("p50", "p95", "p99"):
        q = int(stat[1:]) / 100
        if kind == "summary":
            return f"{base}{_selector(labels, {'quantile': str(q)})}"
        return f"histogram_quantile({q}, rate({base}_bucket{sel}[{window}]))"
    return None  # min, max


def render_rules(rules: Sequence[AlertRule], collector: Any, latest: Mapping[str, Any], *,
                 group: str = "monitoring-layer", rate_window: str = "5m") -> str:
    """The YAML text of one rule group holding every exportable enabled rule."""
    lines = ["# Alerting rules exported by monitoring-layer (names and thresholds in base units).",
             "groups:", f"  - name: {json.dumps(group)}", "    rules:"]
    skipped: list[str] = []
    written = 0
    for rule in rules:
        if not rule.enabled:
            continue
        info = metric_info(rule.metric, collector, latest)
        kind, unit, family = info if info is not None else ("gauge", "", _NAME_BAD.sub("_", rule.metric))
        expression = _expression(rule, kind, family, rate_window)
        if expression is None:
            skipped.append(f"# skipped {rule.rule_id}: statistic {rule.statistic!r} of a {kind} has no PromQL form")
            continue
        factor = 1.0 if rule.statistic == "count" else _factor(unit)
        threshold = rule.threshold * factor
        name = _NAME_BAD.sub("_", rule.rule_id)
        if not name[0].isalpha() and name[0] != "_":
            name = "_" + name
        if info is None:
            lines.append(f"      # {rule.metric}: unknown to the metrics collector; name and threshold as given")
        lines.append(f"      - alert: {name}")
        lines.append(f"        expr: {json.dumps(f'{expression} {rule.op} {_number(threshold)}')}")
        if rule.for_s:
            lines.append(f"        for: {duration(rule.for_s)}")
        if rule.keep_firing_for_s:
            lines.append(f"        keep_firing_for: {duration(rule.keep_firing_for_s)}")
        lines.append("        labels:")
        lines.append(f"          severity: {json.dumps(str(rule.severity))}")
        annotations = {"summary": rule.name, **({"description": rule.description} if rule.description else {}),
                       "monitoring_layer_metric": rule.metric,
                       "monitoring_layer_condition": f"{rule.statistic} {rule.condition} {unit}".strip(),
                       **dict(rule.annotations or {})}
        lines.append("        annotations:")
        for key, value in annotations.items():
            lines.append(f"          {json.dumps(_NAME_BAD.sub('_', key))}: {json.dumps(value)}")
        written += 1
    if not written:
        lines[-1] = "    rules: []"
    return "\n".join(lines + skipped) + "\n"
