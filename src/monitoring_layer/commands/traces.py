"""``monitoring-layer traces list|show``: traces from ``traces/traces.json``.

``list`` prints one line per trace, newest first; ``show`` draws one trace's
span tree as an indented waterfall: each span's bar starts and ends where the
span did, on a scale of the whole trace. Statuses are the file's, which are the
queries' and the dashboard's (``monitoring_layer._status``); a file of an older
schema is migrated in memory as it is read.

An entry the commands cannot read (hand-edited, written by another tool: a
field missing or of another type) is left out, not allowed to stop the whole
listing: the rest is printed, and a note on stderr says how many traces and
spans were left out and points to ``monitoring-layer check``, which says what
is wrong with them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from monitoring_layer._status import ERROR, TRACE_STATUSES, is_error, parse_trace_status
from monitoring_layer.commands._home import load_document, resolve_home
from monitoring_layer.commands._output import (
    EXIT_NOTHING,
    EXIT_OK,
    CommandError,
    Output,
    add_common,
    format_ms,
    parse_count,
    parse_duration,
    short_time,
    table,
)
from monitoring_layer.exporters.traces import TRACES_SCHEMA_VERSION, migrate_traces_document

__all__ = ["add_parser", "filter_traces", "find_trace", "readable_traces", "render_waterfall", "run"]

BAR_WIDTH = 40
_NAME_WIDTH_MAX = 48


def add_parser(commands: Any) -> None:
    traces = commands.add_parser("traces", help="list traces, or show one as a waterfall",
                                 description="Read traces/traces.json of a monitoring home.")
    verbs = traces.add_subparsers(dest="verb", metavar="VERB", required=True)
    listing = verbs.add_parser("list", help="one line per trace, newest first",
                               description="One line per trace, newest first. Exit 1 when none matches.")
    add_common(listing)
    listing.add_argument("--service", help="only traces with a span of this service")
    listing.add_argument("--status", type=_status_word, choices=TRACE_STATUSES,
                         help="only traces with this status (OK means SUCCESS)")
    listing.add_argument("--slow", type=float, metavar="MS", help="only traces that took at least MS milliseconds")
    listing.add_argument("--since", type=parse_duration, metavar="DURATION",
                         help="only traces that ended in the last DURATION (30s, 10m, 2h, 7d)")
    listing.add_argument("--limit", type=parse_count, default=20, metavar="N", help="at most N traces (default 20; 0: all)")
    show = verbs.add_parser("show", help="one trace's span tree with a waterfall of durations",
                            description="Draw the span tree of one trace: durations as bars scaled to the "
                                        "trace, status, component, events and tags. Exit 1 when not found.")
    add_common(show)
    show.add_argument("trace_id", metavar="TRACE_ID", help="the trace id, or a unique prefix of it")


_NUMBER = (int, float)
#: What the commands read of a trace and of a span, with its type; other fields are optional.
_TRACE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "trace_id": str, "name": str, "service": str, "status": str, "start_unix_nano": int, "end_unix_nano": int,
    "duration_ms": _NUMBER, "span_count": int, "spans": list}
_SPAN_FIELDS: dict[str, type | tuple[type, ...]] = {
    "span_id": str, "name": str, "status": str, "start_unix_nano": int, "end_unix_nano": int,
    "duration_ms": _NUMBER}


_TIME_LIMIT = 2**63  # nanoseconds since 1970: up to the year 2262, what a time can be drawn as


def _has(entry: Any, fields: dict[str, type | tuple[type, ...]]) -> bool:
    if not isinstance(entry, dict):
        return False
    for key, kind in fields.items():
        value = entry.get(key)
        if not isinstance(value, kind) or value is True or value is False:  # a bool is an int to isinstance
            return False
        if key.endswith("_unix_nano") and not (type(value) is int and 0 <= value < _TIME_LIMIT):
            return False
    return True


def _readable_event(event: Any) -> bool:
    return (isinstance(event, dict) and isinstance(event.get("name"), str)
            and type(event.get("time_unix_nano")) is int and 0 <= event["time_unix_nano"] < _TIME_LIMIT
            and isinstance(event.get("attributes", {}), dict))


def _readable_span(span: Any) -> bool:
    if not _has(span, _SPAN_FIELDS):
        return False
    events, attributes = span.get("events", []), span.get("attributes", {})
    return (isinstance(attributes, dict) and isinstance(events, list) and all(map(_readable_event, events))
            and isinstance(span.get("parent_span_id"), (str, type(None))))


def readable_traces(traces: Any) -> tuple[list[dict[str, Any]], int, int]:
    """(the traces the commands can read, traces left out, spans left out of the kept traces).

    A trace whose own fields are missing or mistyped is left out whole; a kept
    trace's unreadable spans are left out of it (its ``span_count`` stays the file's).
    A ``traces`` field that is not a list counts as one trace left out.
    """
    if not isinstance(traces, list):
        return [], 1, 0
    kept: list[dict[str, Any]] = []
    bad_traces = bad_spans = 0
    for trace in traces:
        if not _has(trace, _TRACE_FIELDS):
            bad_traces += 1
            continue
        spans = trace["spans"]
        good = [span for span in spans if _readable_span(span)]
        if len(good) != len(spans):
            bad_spans += len(spans) - len(good)
            trace = {**trace, "spans": good}
        kept.append(trace)
    return kept, bad_traces, bad_spans


def _left_out(traces: int, spans: int) -> str | None:
    parts = [f"{n} {what}{'' if n == 1 else 's'}" for n, what in ((traces, "trace"), (spans, "span")) if n]
    if not parts:
        return None
    one = traces + spans == 1
    return (f"{' and '.join(parts)} in traces/traces.json {'does' if one else 'do'} not have the documented "
            f"layout and {'is' if one else 'are'} left out; run `monitoring-layer check` to see what is wrong")


def _status_word(text: str) -> str:
    """SUCCESS or ERROR for a trace status filter; anything else upper-cased, for argparse's choices to refuse."""
    try:
        return parse_trace_status(text)
    except ValueError:
        return text.upper()


def filter_traces(traces: Iterable[dict[str, Any]], *, service: str | None = None, status: str | None = None,
                  slow_ms: float | None = None, since_s: float | None = None, now_ns: int = 0,
                  limit: int = 0) -> list[dict[str, Any]]:
    """The traces that match, in file order (newest first), at most ``limit`` (0: all)."""
    horizon = now_ns - int(since_s * 1e9) if since_s is not None else None
    found = []
    for trace in traces:
        if service is not None and trace.get("service") != service and not any(
                span.get("service") == service for span in trace.get("spans", [])):
            continue
        if status is not None and trace.get("status") != status:
            continue
        if slow_ms is not None and trace.get("duration_ms", 0) < slow_ms:
            continue
        if horizon is not None and trace.get("end_unix_nano", 0) < horizon:
            continue
        found.append(trace)
        if limit and len(found) >= limit:
            break
    return found


def find_trace(traces: Iterable[dict[str, Any]], trace_id: str) -> dict[str, Any] | None:
    """The trace with this id, or the only one whose id starts with it; ``CommandError`` when ambiguous."""
    wanted = trace_id.strip().lower()
    if len(wanted) < 4:
        raise CommandError("give at least 4 characters of the trace id")
    matches = [t for t in traces if str(t.get("trace_id", "")).startswith(wanted)]
    exact = [t for t in matches if t.get("trace_id") == wanted]
    if exact:
        return exact[0]
    if len(matches) > 1:
        raise CommandError(f"trace id prefix {trace_id!r} matches {len(matches)} traces; give more of it")
    return matches[0] if matches else None


def run(args: argparse.Namespace, out: Output) -> int:
    home = resolve_home(args.home)
    doc = load_document(home, "traces")
    version = doc.get("schema_version") if doc is not None else None
    if doc is not None and isinstance(version, int) and version < TRACES_SCHEMA_VERSION:
        doc = migrate_traces_document(doc)  # OTel's codes in `status` -> the status words
    traces, bad_traces, bad_spans = readable_traces(doc.get("traces", []) if doc else [])
    try:
        if args.verb == "show":
            return _show(args, out, home, traces, absent=doc is None)
        return _list(args, out, home, doc, traces)
    finally:
        left_out = _left_out(bad_traces, bad_spans)
        if left_out:
            out.note(left_out)


def _list(args: argparse.Namespace, out: Output, home: Path, doc: dict[str, Any] | None,
          traces: list[dict[str, Any]]) -> int:
    found = filter_traces(traces, service=args.service, status=args.status, slow_ms=args.slow,
                          since_s=args.since, now_ns=out.clock(), limit=args.limit)
    if args.json:
        out.line(json.dumps({"home": str(home), "traces": [_summary(t) for t in found]}, indent=2))
    elif found:
        _print_list(out, found)
    if not found:
        out.note(_nothing(doc, home))
        return EXIT_NOTHING
    return EXIT_OK


def _nothing(doc: dict[str, Any] | None, home: Path) -> str:
    if doc is None:
        return f"no traces: {home / 'traces/traces.json'} does not exist yet"
    return "no trace matches"


def _summary(trace: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in trace.items() if k != "spans"}


def _print_list(out: Output, traces: list[dict[str, Any]]) -> None:
    rows = [(t["trace_id"], short_time(t["start_unix_nano"]), format_ms(t["duration_ms"]), t["status"],
             str(t["span_count"]), t["service"], t["name"]) for t in traces]
    table(out, ("TRACE", "START (UTC)", "DURATION", "STATUS", "SPANS", "SERVICE", "NAME"), rows,
          styled={3: 3}, right=frozenset({2, 4}))


def _show(args: argparse.Namespace, out: Output, home: Path, traces: list[dict[str, Any]], *, absent: bool) -> int:
    trace = find_trace(traces, args.trace_id)
    if trace is None:
        out.note(f"no traces: {home / 'traces/traces.json'} does not exist yet" if absent
                 else f"no trace {args.trace_id} in {home / 'traces/traces.json'}")
        return EXIT_NOTHING
    if args.json:
        out.line(json.dumps({"home": str(home), "trace": trace}, indent=2))
    else:
        for line in render_waterfall(trace, out):
            out.line(line)
    return EXIT_OK


def _tree(spans: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(depth, span) in tree order; children by start time; spans whose parent is absent are roots.

    Every span is drawn once, whatever the file says: a span that is its own ancestor
    (a cycle of parents, or two spans with one id) is drawn as a root where the walk
    from the real roots does not reach it.
    """
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span.get("parent_span_id")
        children.setdefault(parent if parent in ids and parent != span["span_id"] else None, []).append(span)
    ordered: list[tuple[int, dict[str, Any]]] = []
    drawn: set[int] = set()
    expanded: set[str] = set()

    def walk(roots: list[dict[str, Any]]) -> None:
        stack = [(0, s) for s in sorted(roots, key=_start, reverse=True)]
        while stack:  # iterative: a deep trace must not hit the recursion limit
            depth, span = stack.pop()
            if id(span) in drawn:
                continue
            drawn.add(id(span))
            ordered.append((depth, span))
            if span["span_id"] not in expanded:  # an id's children are drawn under its first span only
                expanded.add(span["span_id"])
                stack.extend((depth + 1, c) for c in sorted(children.get(span["span_id"], []), key=_start,
                                                            reverse=True))

    walk(children.get(None, []))
    walk([span for span in spans if id(span) not in drawn])  # what only a cycle of parents led to
    return ordered


def _start(span: dict[str, Any]) -> tuple[int, str]:
    return (span.get("start_unix_nano", 0), span.get("span_id", ""))


def _bar(start: int, end: int, t0: int, total: int) -> str:
    offset = min(BAR_WIDTH - 1, int((start - t0) * BAR_WIDTH / total))
    length = max(1, round((end - start) * BAR_WIDTH / total))
    length = min(length, BAR_WIDTH - offset)
    return " " * offset + "█" * length + " " * (BAR_WIDTH - offset - length)


def _pairs(attributes: dict[str, Any]) -> str:
    return " ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in attributes.items())


def render_waterfall(trace: dict[str, Any], out: Output | None = None) -> list[str]:
    """The lines of ``traces show``: a header, then per span its row and its events and tags."""
    paint = out.paint if out is not None else (lambda text, style: text)
    spans = list(trace.get("spans", []))
    t0 = min([trace["start_unix_nano"], *(s["start_unix_nano"] for s in spans)])
    t1 = max([trace["end_unix_nano"], *(s["end_unix_nano"] for s in spans)])
    total = max(1, t1 - t0)
    lines = [f"trace {trace['trace_id']}  {trace['name']}  service {trace['service']}  "
             f"{paint(trace['status'], trace['status'])}  {format_ms(trace['duration_ms'])}  "
             f"{trace['span_count']} spans  started {short_time(trace['start_unix_nano'])} UTC"]
    if not trace.get("complete", True):
        lines.append("  incomplete: its root span is not in the file (still running, or dropped)")
    if trace.get("dropped_spans"):
        lines.append(f"  {trace['dropped_spans']} more spans were dropped (MONITORING_TRACES_MAX_SPANS_PER_TRACE)")
    tree = _tree(spans)
    names = ["  " * depth + span["name"] for depth, span in tree]
    name_width = min(_NAME_WIDTH_MAX, max([len("SPAN"), *map(len, names)]))
    components = [str(span.get("scope") or span.get("service") or "") for _, span in tree]
    comp_width = max([len("COMPONENT"), *map(len, components)])
    durations = [format_ms(span["duration_ms"]) for _, span in tree]
    status_width = max([len("STATUS"), *(len(span["status"]) for _, span in tree)])
    dur_width = max([len("DURATION"), *map(len, durations)])
    end_label = format_ms(total / 1e6)
    scale = f"0 {'─' * (BAR_WIDTH - 1 - len(end_label))} {end_label}"  # as wide as ▏bar▏
    lines.append("")
    lines.append(f"{'SPAN'.ljust(name_width)}  {'COMPONENT'.ljust(comp_width)}  {'STATUS'.ljust(status_width)}  "
                 f"{'DURATION'.rjust(dur_width)}  {scale}")
    for (depth, span), name, component, duration in zip(tree, names, components, durations):
        if len(name) > name_width:
            name = name[:name_width - 1] + "…"
        bar = _bar(span["start_unix_nano"], span["end_unix_nano"], t0, total)
        lines.append(f"{name.ljust(name_width)}  {component.ljust(comp_width)}  "
                     f"{paint(span['status'].ljust(status_width), span['status'])}  {duration.rjust(dur_width)}  "
                     f"▏{paint(bar, ERROR if is_error(span['status']) else 'bar')}▏")
        pad = "  " * depth + "    "
        if span.get("status_message"):
            lines.append(f"{pad}status: {span['status_message']}")
        for event in span.get("events", []):
            at = format_ms((event["time_unix_nano"] - span["start_unix_nano"]) / 1e6)
            detail = _pairs(event.get("attributes", {}))
            lines.append(f"{pad}event +{at} {event['name']}" + (f" {detail}" if detail else ""))
        if span.get("attributes"):
            lines.append(f"{pad}tags {_pairs(span['attributes'])}")
    return lines
