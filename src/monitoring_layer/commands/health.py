"""``monitoring-layer health``: the status of every component and check, from the health files.

Reads ``health/health_status.json`` (each component's status and its checks'
latest results) and, beside each check, the recent results of
``health/health_history.json`` as a strip of marks, oldest to newest.
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
    format_ms,
    parse_iso,
    short_time,
    table,
)

__all__ = ["HISTORY_MARKS", "STATUSES", "add_parser", "run", "select_components"]

STATUSES = ("healthy", "degraded", "unhealthy", "unknown")
#: One mark per past result in the strip.
HISTORY_MARKS = {"healthy": "✓", "degraded": "~", "unhealthy": "✗", "unknown": "?"}
HISTORY_SHOWN = 20


def add_parser(commands: Any) -> None:
    health = commands.add_parser(
        "health", help="the status of every component and check",
        description="Print the system's health from health/health_status.json: each component's status and "
                    "its checks' latest results, with the recent results from health/health_history.json "
                    "(oldest to newest). Exit 1 when no component matches.")
    add_common(health)
    health.add_argument("--component", help="only this component")
    health.add_argument("--status", type=str.lower, choices=STATUSES,
                        help="only components with this status, or with a check in it")


def select_components(doc: dict[str, Any], *, component: str | None = None,
                      status: str | None = None) -> list[dict[str, Any]]:
    """The matching components, worst first then by name."""
    rank = {name: i for i, name in enumerate(("unhealthy", "degraded", "unknown", "healthy"))}
    found = []
    for name, entry in (doc.get("components") or {}).items():
        if component is not None and name != component:
            continue
        checks = (entry.get("checks") or {}).values()
        if status is not None and entry.get("status") != status and not any(
                c.get("status") == status for c in checks):
            continue
        found.append(entry)
    found.sort(key=lambda e: (rank.get(e.get("status", ""), 9), e.get("component", "")))
    return found


def run(args: argparse.Namespace, out: Output) -> int:
    home = resolve_home(args.home)
    status_doc = load_document(home, "health_status")
    history_doc = load_document(home, "health_history") or {}
    if status_doc is None:
        if args.json:
            out.line(json.dumps({"home": str(home), "status": None, "components": []}, indent=2))
        out.note(f"no health status: {home / FILES['health_status']} does not exist yet")
        return EXIT_NOTHING
    found = select_components(status_doc, component=args.component, status=args.status)
    history = history_doc.get("checks") or {}
    if args.json:
        components = [{**c, "history": {name: history.get(f"{c['component']}:{name}", [])
                                        for name in (c.get("checks") or {})}} for c in found]
        out.line(json.dumps({"home": str(home), "status": status_doc.get("status"),
                             "updated": status_doc.get("updated"), "components": components}, indent=2,
                            ensure_ascii=False))
    else:
        _print(out, status_doc, found, history)
    if not found:
        out.note("no component matches" if status_doc.get("components") else "no component is registered")
        return EXIT_NOTHING
    return EXIT_OK


def _print(out: Output, doc: dict[str, Any], components: list[dict[str, Any]],
           history: dict[str, list[dict[str, Any]]]) -> None:
    overall = doc.get("status", "unknown")
    updated = parse_iso(doc.get("updated"))
    out.line(f"system {out.paint(overall, overall)}" + (f"  (updated {short_time(updated)} UTC)" if updated else ""))
    rows: list[tuple[str, ...]] = []
    for entry in components:
        name = str(entry.get("component", ""))
        note = str(entry.get("reason", ""))
        if entry.get("depends_on"):
            note += ("; " if note else "") + "depends on " + ", ".join(entry["depends_on"])
        rows.append((name, "", str(entry.get("status", "unknown")), "", "", "", "", note))
        for check, result in sorted((entry.get("checks") or {}).items()):
            rows.append(_check_row(check, result, history.get(f"{name}:{check}", [])))
    table(out, ("COMPONENT", "CHECK", "STATUS", "CRITICAL", "DURATION", "CHECKED (UTC)", "RECENT", "OUTPUT"), rows,
          styled={2: 2}, right=frozenset({4}))


def _check_row(name: str, result: dict[str, Any], past: list[dict[str, Any]]) -> tuple[str, ...]:
    duration = result.get("duration_ms")
    at = result.get("time_unix_nano") or parse_iso(result.get("timestamp"))
    # newest first in the file; drawn oldest to newest
    marks = "".join(HISTORY_MARKS.get(r.get("status", ""), "?") for r in reversed(past[:HISTORY_SHOWN]))
    output = str(result.get("output", ""))
    if result.get("stale"):
        output = "stale" + (f": {output}" if output else "")
    return ("", name, str(result.get("status", "unknown")), "yes" if result.get("critical") else "no",
            format_ms(duration) if duration is not None else "", short_time(at) if at else "not run yet", marks,
            output)
