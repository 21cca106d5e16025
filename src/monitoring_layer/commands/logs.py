"""``monitoring-layer logs``: records of ``logs/logs.json``, filtered, oldest first; ``--follow`` streams.

``--follow`` polls the file's identity (inode, size, mtime) every
``FOLLOW_INTERVAL_S``: writers replace the file by a rename, so a new identity
means a new document. Which records are new is decided by content, not by
time: a process that flushes late adds records older than ones already shown,
and they are still printed. The set of records already seen is the set in the
file, so it is bounded by the file's retention (``MONITORING_LOGS_MAX_RECORDS``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from monitoring_layer.commands._home import FILES, file_state, load_document, resolve_home
from monitoring_layer.commands._output import (
    EXIT_NOTHING,
    EXIT_OK,
    CommandError,
    Output,
    add_common,
    parse_count,
    parse_duration,
    short_time,
)

__all__ = ["FOLLOW_INTERVAL_S", "LEVELS", "add_parser", "filter_records", "format_record", "run"]

FOLLOW_INTERVAL_S = 0.25
#: Levels in rising severity; ``--level X`` keeps X and the ones after it.
LEVELS = ("TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_RANK = {name: i for i, name in enumerate(LEVELS)}


def add_parser(commands: Any) -> None:
    logs = commands.add_parser(
        "logs", help="print log records, filtered; --follow streams new ones",
        description="Print the records of logs/logs.json, oldest first, one line each (the newest --limit "
                    "that match). Exit 1 when none matches.")
    add_common(logs, json_help="print one JSON document (JSON lines with --follow)")
    logs.add_argument("--level", type=str.upper, choices=LEVELS, help="this level and more severe ones")
    logs.add_argument("--component", help="only records of this component")
    logs.add_argument("--grep", metavar="TEXT", help="only records whose message or attributes contain TEXT "
                                                    "(case-insensitive)")
    logs.add_argument("--trace", metavar="TRACE_ID", help="only records of this trace (id or prefix)")
    logs.add_argument("--since", type=parse_duration, metavar="DURATION",
                      help="only records of the last DURATION (30s, 10m, 2h, 7d)")
    logs.add_argument("--limit", type=parse_count, default=None, metavar="N",
                      help="the newest N records (default 100, 10 with --follow; 0: all)")
    logs.add_argument("--follow", "-f", action="store_true",
                      help="keep running and print new records as processes write them (Ctrl-C stops)")


def _trace_of(record: dict[str, Any]) -> str:
    # The log aggregator keeps a caller's own trace_id argument as an attribute; OTel context in the field.
    attrs = record.get("attributes") or {}
    return str(record.get("trace_id") or attrs.get("trace_id") or "")


def filter_records(records: Iterable[dict[str, Any]], *, level: str | None = None, component: str | None = None,
                   grep: str | None = None, trace: str | None = None, since_s: float | None = None,
                   now_ns: int = 0) -> list[dict[str, Any]]:
    """Matching records, oldest first."""
    floor = _RANK[level] if level else None
    needle = grep.lower() if grep else None
    horizon = now_ns - int(since_s * 1e9) if since_s is not None else None
    found = []
    for record in records:
        if floor is not None and _RANK.get(record.get("level", ""), -1) < floor:
            continue
        if component is not None and record.get("component") != component:
            continue
        if trace is not None and not _trace_of(record).startswith(trace.lower()):
            continue
        if horizon is not None and record.get("time_unix_nano", 0) < horizon:
            continue
        if needle is not None and needle not in record.get("message", "").lower() and needle not in json.dumps(
                record.get("attributes", {}), ensure_ascii=False).lower():
            continue
        found.append(record)
    found.sort(key=lambda r: r.get("time_unix_nano", 0))
    return found


def format_record(record: dict[str, Any], out: Output) -> str:
    """``2026-11-28 08:21:46.288 INFO     api: Request received  trace=0781c79d…``."""
    level = record.get("level", "")
    text = (f"{short_time(record.get('time_unix_nano', 0))} {out.paint(level.ljust(8), level)} "
            f"{record.get('component', '')}: {record.get('message', '')}")
    extras = []
    error_type = (record.get("attributes") or {}).get("exception.type")
    if error_type:
        extras.append(f"error={error_type}")
    trace = _trace_of(record)
    if trace:
        extras.append(f"trace={trace}")
    return text + ("  " + out.paint(" ".join(extras), "dim") if extras else "")


def run(args: argparse.Namespace, out: Output) -> int:
    home = resolve_home(args.home)
    limit = args.limit if args.limit is not None else (10 if args.follow else 100)
    doc = load_document(home, "logs")
    found = _select(doc, args, out.clock(), limit)
    if args.follow:
        for record in found:
            _emit(out, args, record)
        out.flush()
        return _follow(home, args, out, doc)
    if args.json:
        out.line(json.dumps({"home": str(home), "records": found}, indent=2, ensure_ascii=False))
    else:
        for record in found:
            out.line(format_record(record, out))
    if not found:
        out.note(f"no log records: {home / FILES['logs']} does not exist yet" if doc is None
                 else "no log record matches")
        return EXIT_NOTHING
    return EXIT_OK


def _select(doc: dict[str, Any] | None, args: argparse.Namespace, now_ns: int, limit: int) -> list[dict[str, Any]]:
    records = doc.get("records", []) if doc else []
    found = filter_records(records, level=args.level, component=args.component, grep=args.grep,
                           trace=args.trace, since_s=args.since, now_ns=now_ns)
    return found[-limit:] if limit else found


def _emit(out: Output, args: argparse.Namespace, record: dict[str, Any]) -> None:
    out.line(json.dumps(record, ensure_ascii=False) if args.json else format_record(record, out))


def _fingerprint(record: dict[str, Any]) -> bytes:
    return hashlib.blake2b(json.dumps(record, sort_keys=True).encode(), digest_size=16).digest()


def _follow(home: Path, args: argparse.Namespace, out: Output, doc: dict[str, Any] | None,
            sleep: Callable[[float], None] = time.sleep) -> int:
    path = home / FILES["logs"]
    seen = {_fingerprint(r) for r in (doc or {}).get("records", [])}
    state = file_state(path)
    while True:
        sleep(FOLLOW_INTERVAL_S)
        current = file_state(path)
        if current == state:
            continue
        state = current
        try:
            doc = load_document(home, "logs")
        except CommandError as exc:  # a file another tool broke: say so, keep following
            out.note(str(exc))
            continue
        records = (doc or {}).get("records", [])
        fresh = []
        now_seen = set()
        for record in records:
            key = _fingerprint(record)
            now_seen.add(key)
            if key not in seen:
                fresh.append(record)
        seen = now_seen  # records gone from the file never come back: forget them
        for record in filter_records(fresh, level=args.level, component=args.component, grep=args.grep,
                                     trace=args.trace):
            _emit(out, args, record)
        out.flush()
