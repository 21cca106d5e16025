"""``monitoring-layer alerts``: alerts (and, with ``--incidents``, incidents) from ``alerts/incidents.json``.

The alert manager keeps active and recently resolved alerts in that file; the
rules they come from are in ``alerts/rules.json`` (their names and conditions
are shown beside each alert).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from monitoring_layer.commands._home import FILES, load_document, resolve_home
from monitoring_layer.commands._output import (
    EXIT_NOTHING,
    EXIT_OK,
    Output,
    add_common,
    parse_count,
    parse_duration,
    parse_iso,
    short_time,
    table,
)

__all__ = ["SEVERITIES", "STATES", "add_parser", "filter_alerts", "run"]

STATES = ("pending", "triggered", "acknowledged", "suppressed", "resolved")
#: In rising order; ``--severity high`` keeps high and critical.
SEVERITIES = ("low", "medium", "high", "critical")
_RANK = {name: i for i, name in enumerate(SEVERITIES)}


def add_parser(commands: Any) -> None:
    alerts = commands.add_parser(
        "alerts", help="alerts (or incidents), newest first",
        description="Print the alerts of alerts/incidents.json, newest first, with their rule's condition from "
                    "alerts/rules.json. Exit 1 when none matches.")
    add_common(alerts)
    alerts.add_argument("--state", type=str.lower, choices=STATES, help="only alerts in this state")
    alerts.add_argument("--severity", type=str.lower, choices=SEVERITIES,
                        help="this severity and more severe ones")
    alerts.add_argument("--rule", metavar="RULE_ID", help="only alerts of this rule")
    alerts.add_argument("--since", type=parse_duration, metavar="DURATION",
                        help="only alerts started or updated in the last DURATION (30s, 10m, 2h, 7d)")
    alerts.add_argument("--limit", type=parse_count, default=50, metavar="N", help="at most N (default 50; 0: all)")
    alerts.add_argument("--incidents", action="store_true", help="list incidents instead of alerts")


def filter_alerts(items: list[dict[str, Any]], *, state: str | None = None, severity: str | None = None,
                  rule: str | None = None, since_s: float | None = None, now_ns: int = 0, limit: int = 0,
                  state_key: str = "state", time_key: str = "started_at") -> list[dict[str, Any]]:
    """Matching alerts (or incidents, with ``state_key="status"``), newest first, at most ``limit``."""
    floor = _RANK[severity] if severity else None
    horizon = now_ns - int(since_s * 1e9) if since_s is not None else None
    found = []
    for item in items:
        if state is not None and item.get(state_key) != state:
            continue
        if floor is not None and _RANK.get(item.get("severity", ""), -1) < floor:
            continue
        if rule is not None and item.get("rule_id") != rule:
            continue
        if horizon is not None and (parse_iso(item.get("updated_at")) or parse_iso(item.get(time_key)) or 0) < horizon:
            continue
        found.append(item)
    found.sort(key=lambda a: parse_iso(a.get(time_key)) or 0, reverse=True)
    return found[:limit] if limit else found


def run(args: argparse.Namespace, out: Output) -> int:
    home = resolve_home(args.home)
    doc = load_document(home, "alert_incidents")
    rules = {r.get("rule_id"): r for r in ((load_document(home, "alert_rules") or {}).get("rules") or [])}
    kind = "incidents" if args.incidents else "alerts"
    items = (doc or {}).get(kind) or []
    if args.incidents:
        state = args.state if args.state in (None, "resolved") else "open"  # incidents are open or resolved
        found = filter_alerts(items, state=state, severity=args.severity, rule=args.rule, since_s=args.since,
                              now_ns=out.clock(), limit=args.limit, state_key="status", time_key="opened_at")
    else:
        found = filter_alerts(items, state=args.state, severity=args.severity, rule=args.rule,
                              since_s=args.since, now_ns=out.clock(), limit=args.limit)
    if args.json:
        out.line(json.dumps({"home": str(home), kind: found}, indent=2, ensure_ascii=False))
    elif found:
        (_print_incidents if args.incidents else _print_alerts)(out, found, rules)
    if not found:
        out.note(f"no {kind}: {home / FILES['alert_incidents']} does not exist yet" if doc is None
                 else f"no {kind[:-1]} matches")
        return EXIT_NOTHING
    return EXIT_OK


def _when(text: str | None) -> str:
    at = parse_iso(text)
    return short_time(at) if at else "-"


def _labels(labels: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "-"


def _value(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.6g}"
    return str(int(value)) if isinstance(value, (int, float)) else str(value)


def _condition(rule: dict[str, Any] | None) -> str:
    if not rule:
        return ""
    # the condition carries its threshold ("> 10")
    return f"{rule.get('statistic', 'value')}({rule.get('metric', '')}) {rule.get('condition', '')}"


def _print_alerts(out: Output, alerts: list[dict[str, Any]], rules: dict[Any, dict[str, Any]]) -> None:
    rows = [(_when(a.get("started_at")), str(a.get("severity", "")), str(a.get("state", "")), str(a.get("name", "")),
             _value(a.get("value")), _labels(a.get("labels") or {}), _condition(rules.get(a.get("rule_id"))),
             str(a.get("incident_id", ""))) for a in alerts]
    table(out, ("STARTED (UTC)", "SEVERITY", "STATE", "ALERT", "VALUE", "LABELS", "RULE", "INCIDENT"), rows,
          styled={1: 1, 2: 2}, right=frozenset({4}))


def _print_incidents(out: Output, incidents: list[dict[str, Any]], rules: dict[Any, dict[str, Any]]) -> None:
    rows = [(_when(i.get("opened_at")), str(i.get("severity", "")), str(i.get("status", "")), str(i.get("incident_id", "")),
             str(rules.get(i.get("rule_id"), {}).get("name", i.get("rule_id", ""))), _labels(i.get("group_labels") or {}),
             f"{len(i.get('active_alert_ids') or [])}/{len(i.get('alert_ids') or [])}",
             _when(i.get("resolved_at")) if i.get("resolved_at") else "") for i in incidents]
    table(out, ("OPENED (UTC)", "SEVERITY", "STATUS", "INCIDENT", "RULE", "GROUP", "ACTIVE/ALL", "RESOLVED"), rows,
          styled={1: 1, 2: 2}, right=frozenset({6}))
