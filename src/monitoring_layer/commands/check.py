"""``monitoring-layer check``: validate every documented file of a home against its JSON Schema."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitoring_layer.commands._home import resolve_home
from monitoring_layer.commands._output import EXIT_NOTHING, EXIT_OK, Output, add_common, isatty
from monitoring_layer.exporters import FILES, load_schema, schema_for, validate
from monitoring_layer._encode import iso

__all__ = ["add_parser", "check_home", "run"]

Progress = Callable[[str], None]


def add_parser(commands: Any) -> None:
    check = commands.add_parser(
        "check", help="validate the JSON files in a monitoring home",
        description="Validate every documented file in a monitoring home against its JSON Schema and "
                    "summarise it. Exit status 1 when a file is invalid (or, with --strict, absent); 2 when "
                    "the home does not exist.")
    add_common(check, json_help="print the report as JSON")
    check.add_argument("--strict", action="store_true", help="an absent file is an error too")


def check_home(home: Path, *, progress: Progress | None = None) -> dict[str, Any]:
    """Validate and summarise every documented file under ``home`` (reads only, takes no lock)."""
    home = Path(home)
    files = []
    for relative, schema_name in FILES.items():
        path = home / relative
        entry: dict[str, Any] = {"file": relative, "path": str(path)}
        quarantined = sorted(p.name for p in path.parent.glob(path.name + ".corrupt-*")) if path.parent.is_dir() else []
        if quarantined:
            entry["quarantined"] = quarantined
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            files.append({**entry, "status": "absent", "problems": []})
            continue
        except OSError as exc:  # a loop of symlinks, a file where a folder of the path should be
            files.append({**entry, "status": "invalid", "problems": [f"cannot be read: {exc.strerror}"]})
            continue
        if progress is not None:
            progress(f"checking {relative} ({size / 1e6:.1f} MB)")
        try:
            doc = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError) as exc:  # RecursionError: nested too deeply to parse
            files.append({**entry, "status": "invalid", "problems": [f"not readable JSON: {exc}"]})
            continue
        checked_against = schema_for(schema_name, doc)
        if checked_against != schema_name:  # an older layout the library still reads, migrating it
            entry["notes"] = [f"schema_version {doc['schema_version']}: read and migrated by the library, "
                              "rewritten in the current schema at its next write"]
        try:
            problems = validate(doc, load_schema(checked_against))
            entry.update(_summary(schema_name, doc) if not problems else {})
        except RecursionError:
            problems = ["nested too deeply to check"]
        except (OverflowError, ValueError) as exc:  # a time the schema allows but no calendar holds
            problems = [f"a value out of range: {exc}"]
        files.append({**entry, "status": "invalid" if problems else "ok", "problems": problems})
    if progress is not None:
        progress("")
    return {"home": str(home), "files": files}


def _summary(kind: str, doc: dict[str, Any]) -> dict[str, Any]:
    times: list[int] = []
    counts: dict[str, int] = {}
    if kind == "metrics":
        metrics = doc["metrics"]
        series = [s for m in metrics.values() for s in m["series"]]
        points = [p for s in series for p in s["points"]]
        counts = {"metrics": len(metrics), "series": len(series), "points": len(points)}
        times = [p["time_unix_nano"] for p in points]
    elif kind == "logs":
        counts = {"records": len(doc["records"])}
        times = [r["time_unix_nano"] for r in doc["records"]]
    elif kind == "traces":
        traces = doc["traces"]
        counts = {"traces": len(traces), "spans": sum(len(t["spans"]) for t in traces)}
        times = [t["start_unix_nano"] for t in traces] + [t["end_unix_nano"] for t in traces]
    elif kind.startswith("alert_"):  # the alert manager's files: how many of each record list
        counts = {key: len(value) for key, value in doc.items() if isinstance(value, list)}
    elif kind == "health_status":
        checks = [r for c in doc["components"].values() for r in c["checks"].values()]
        counts = {"components": len(doc["components"]), "checks": len(checks)}
        times = [r["time_unix_nano"] for r in checks if r.get("time_unix_nano") is not None]
    elif kind == "health_history":
        results = [r for rs in doc["checks"].values() for r in rs]
        counts = {"checks": len(doc["checks"]), "results": len(results)}
        times = [r["time_unix_nano"] for r in results if r.get("time_unix_nano") is not None]
    span = {"oldest": iso(min(times)), "newest": iso(max(times))} if times else {}
    return {"counts": counts, "time_span": span}


def run(args: argparse.Namespace, out: Output) -> int:
    home = resolve_home(args.home)
    progress = _terminal_progress(out) if isatty(out.err) else None
    report = check_home(home, progress=progress)
    if args.json:
        out.line(json.dumps(report, indent=2))
    else:
        _print_report(out, report, strict=args.strict)
    failed = any(f["status"] == "invalid" or (args.strict and f["status"] == "absent") for f in report["files"])
    return EXIT_NOTHING if failed else EXIT_OK


def _terminal_progress(out: Output) -> Progress:
    def show(text: str) -> None:
        # One line rewritten in place; an empty text clears it before the report.
        out.err.write("\r\033[K" + (f"monitoring-layer: {text}…" if text else ""))
        out.err.flush()
    return show


def _print_report(out: Output, report: dict[str, Any], *, strict: bool) -> None:
    out.line(f"monitoring home: {report['home']}")
    for entry in report["files"]:
        status = entry["status"]
        mark = {"ok": "ok", "absent": "!!" if strict else "--", "invalid": "!!"}[status]
        line = f"  [{mark}] {entry['file']}: {status}"
        if entry.get("counts"):
            line += " (" + ", ".join(f"{n} {what}" for what, n in entry["counts"].items()) + ")"
        if entry.get("time_span"):
            line += f" from {entry['time_span']['oldest']} to {entry['time_span']['newest']}"
        out.line(line)
        for problem in entry["problems"]:
            out.line(f"       {problem}")
        for note in entry.get("notes", []):
            out.line(f"       note: {note}")
        for name in entry.get("quarantined", []):
            out.line(f"       note: an earlier corrupt copy was set aside as {name}")
