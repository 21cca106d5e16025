"""``monitoring-layer metrics list|show``: metrics of ``metrics/metrics_registry.json``.

``show`` prints, per series (one label set of one process), the statistics
count, sum, mean, min, max, p50, p95, p99 and a sparkline of the recent points:

* counters (schema 2): each point holds the running total (``value``) and what
  was added since the point before (``increment``; for the metrics facade, by one
  call): the statistics and the sparkline are over the increments, and the
  newest running total is shown as ``total`` (for the facade, its lifetime sum);
* other series of the metrics facade carry their raw recorded values as points
  (a gauge's settings, a histogram's observations): the statistics are exact over
  the retained points; the lifetime count and sum the series carries are shown
  beside them;
* OTel histogram series carry cumulative points: the statistics are those of
  the newest point (percentiles estimated from its buckets, like Prometheus'
  ``histogram_quantile``), and the sparkline is the running mean at each point;
* other OTel series (gauges): statistics over the retained points' values.

A schema 1 file (the facade's counter points held increments, OTel's running
totals) is read through the exporter's own migration first.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from monitoring_layer.commands._home import FILES, load_document, resolve_home
from monitoring_layer.commands._output import EXIT_NOTHING, EXIT_OK, Output, add_common, table
from monitoring_layer.exporters.metrics import migrate_metrics_document
from monitoring_layer._stats import statistics
from monitoring_layer.readings import MetricReading, reading_statistic

__all__ = ["SPARK_POINTS", "add_parser", "find_metric", "run", "series_view", "sparkline"]

SPARK_POINTS = 30
_SPARKS = "▁▂▃▄▅▆▇█"
_STATS = ("count", "sum", "mean", "min", "max", "p50", "p95", "p99")
_CUMULATIVE = ("counter", "updowncounter")


def add_parser(commands: Any) -> None:
    metrics = commands.add_parser("metrics", help="list metrics, or show one's statistics per series",
                                  description="Read metrics/metrics_registry.json of a monitoring home.")
    verbs = metrics.add_subparsers(dest="verb", metavar="VERB", required=True)
    listing = verbs.add_parser("list", help="one line per metric",
                               description="One line per metric: type, unit, series, points. Exit 1 when none.")
    add_common(listing)
    show = verbs.add_parser("show", help="statistics and a sparkline per series of one metric",
                            description="Per series of one metric: count, sum, mean, min, max, p50, p95, p99 "
                                        "and a sparkline of the recent points. Exit 1 when no series matches.")
    add_common(show)
    show.add_argument("name", metavar="NAME", help="the metric's name (as registered, or its Prometheus name)")
    show.add_argument("--labels", action="append", type=_labels, default=[], metavar="K=V[,K=V]",
                      help="only series with these labels (repeatable)")


def _labels(text: str) -> dict[str, str]:
    pairs = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise argparse.ArgumentTypeError(f"{part!r} is not key=value")
        pairs[key.strip()] = value.strip()
    return pairs


def find_metric(metrics: dict[str, Any], name: str) -> tuple[str, dict[str, Any]] | None:
    """The metric named ``name``, or whose Prometheus name (or name without ``_total``) it is."""
    if name in metrics:
        return name, metrics[name]
    for key, entry in metrics.items():
        if name == entry.get("prometheus_name") or name.removesuffix("_total") == key:
            return key, entry
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None  # NaN and the infinities: no statistic, no bar


def series_view(entry: dict[str, Any], series: dict[str, Any]) -> dict[str, Any]:
    """One series as ``show`` reports it: labels, source, points, statistics, recent values."""
    points = sorted(series.get("points", []), key=lambda p: p.get("time_unix_nano", 0))
    view: dict[str, Any] = {"labels": series.get("labels", {}), "source": series.get("source", ""),
                            "points": len(points)}
    cumulative = [p for p in points if "bucket_counts" in p or ("count" in p and "value" not in p)]
    if cumulative:  # an OTel histogram: cumulative points, the newest says it all
        last = cumulative[-1]
        count, total = int(last.get("count", 0)), _number(last.get("sum"))
        bounds, counts = last.get("explicit_bounds", []), last.get("bucket_counts", [])
        running, buckets = 0, []
        for bound, n in zip([*bounds, math.inf], counts):
            running += n
            buckets.append((float(bound), running))
        reading = MetricReading(name="", type="histogram", value=(total or 0) / count if count else 0.0,
                                count=count, sum=total, buckets=tuple(buckets) or None)
        stats: dict[str, Any] = {"count": count, "sum": total, "mean": reading_statistic(reading, "mean"),
                                 "min": _number(last.get("min")), "max": _number(last.get("max"))}
        stats.update({q: reading_statistic(reading, q) for q in ("p50", "p95", "p99")})
        recent = [(_number(p.get("sum")) or 0) / p["count"] for p in cumulative if p.get("count")]
    elif entry.get("type") in _CUMULATIVE:  # points hold the running total and what each added
        values = [v for v in (_number(p.get("increment")) for p in points) if v is not None]
        stats = statistics(values)
        recent = values
        totals = [v for v in (_number(p.get("value")) for p in points) if v is not None]
        if totals:
            view["total"] = totals[-1]
    else:
        values = [v for v in (_number(p.get("value")) for p in points) if v is not None]
        stats = statistics(values)
        recent = values
    view["statistics"] = stats
    if "count" in series:  # the facade's lifetime totals (points are only the retained ones)
        view["lifetime"] = {"count": series["count"], "sum": series.get("sum")}
    view["recent"] = recent[-SPARK_POINTS:]
    return view


def sparkline(values: list[float]) -> str:
    """``▁▃▅█``: each value's height between the smallest and the largest shown."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return _SPARKS[3] * len(values)
    return "".join(_SPARKS[min(7, int((v - low) / (high - low) * 8))] for v in values)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15):
        return str(int(value))
    return f"{value:.6g}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def run(args: argparse.Namespace, out: Output) -> int:
    home = resolve_home(args.home)
    doc = load_document(home, "metrics")
    if doc is not None and doc.get("schema_version") == 1:
        doc = migrate_metrics_document(doc)  # counters' points: increments -> running totals
    metrics: dict[str, Any] = doc.get("metrics", {}) if doc else {}
    if args.verb == "list":
        return _list(args, out, home, doc, metrics)
    found = find_metric(metrics, args.name)
    if found is None:
        out.note(f"no metrics: {home / FILES['metrics']} does not exist yet" if doc is None
                 else f"no metric {args.name!r} in {home / FILES['metrics']}")
        return EXIT_NOTHING
    name, entry = found
    wanted: dict[str, str] = {}
    for pairs in args.labels:
        wanted.update(pairs)
    views = [series_view(entry, s) for s in entry.get("series", [])
             if all(str(s.get("labels", {}).get(k)) == v for k, v in wanted.items())]
    if args.json:
        head = {k: v for k, v in entry.items() if k != "series"}
        out.line(json.dumps({"home": str(home), "name": name, **head, "series": views}, indent=2))
    else:
        _print_show(out, name, entry, views)
    if not views:
        out.note(f"no series of {name} has the labels {wanted}")
        return EXIT_NOTHING
    return EXIT_OK


def _list(args: argparse.Namespace, out: Output, home: Any, doc: Any, metrics: dict[str, Any]) -> int:
    rows = [(name, e.get("type", ""), e.get("unit", "") or "-", str(len(e.get("series", []))),
             str(sum(len(s.get("points", [])) for s in e.get("series", []))), e.get("description", ""))
            for name, e in sorted(metrics.items())]
    if args.json:
        out.line(json.dumps({"home": str(home), "metrics": [
            {"name": r[0], "type": r[1], "unit": metrics[r[0]].get("unit", ""), "series": int(r[3]),
             "points": int(r[4]), "description": r[5]} for r in rows]}, indent=2))
    elif rows:
        table(out, ("NAME", "TYPE", "UNIT", "SERIES", "POINTS", "DESCRIPTION"), rows, right=frozenset({3, 4}))
    if not rows:
        out.note(f"no metrics: {home / FILES['metrics']} does not exist yet" if doc is None else "no metrics yet")
        return EXIT_NOTHING
    return EXIT_OK


def _print_show(out: Output, name: str, entry: dict[str, Any], views: list[dict[str, Any]]) -> None:
    title = f"{name}  {entry.get('type', '')}"
    if entry.get("unit"):
        title += f"  unit {entry['unit']}"
    if entry.get("prometheus_name"):
        title += f"  prometheus {entry['prometheus_name']}"
    if entry.get("description"):
        title += f"  — {entry['description']}"
    out.line(title)
    for view in views:
        labels = ",".join(f"{k}={v}" for k, v in view["labels"].items()) or "(no labels)"
        out.line(f"  series {labels}  source {view['source']}  {_plural(view['points'], 'point')}")
        out.line("    " + "  ".join(f"{k} {_fmt(view['statistics'].get(k))}" for k in _STATS))
        if "total" in view and "lifetime" not in view:  # the facade's lifetime sum says it already
            out.line(f"    total {_fmt(view['total'])}")
        if "lifetime" in view:
            out.line(f"    lifetime count {_fmt(view['lifetime']['count'])}  sum {_fmt(view['lifetime']['sum'])}")
        if view["recent"]:
            out.line(f"    recent {out.paint(sparkline(view['recent']), 'bar')}  "
                     f"({_plural(len(view['recent']), 'point')}, {_fmt(min(view['recent']))} .. {_fmt(max(view['recent']))})")
