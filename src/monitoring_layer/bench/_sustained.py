"""Sustained load against a lean OpenTelemetry setup, each run in a fresh interpreter.

What a user compares us with is not raw OTel calls on *our* pipeline (that
contender pays our stores and files too) but the OTel SDK set up lean: a
batch processor into an exporter that does nothing (``lean``), or that
encodes each batch as OTLP protobuf as an OTLP exporter would before the
network (``lean-otlp``). Each figure is the median over ``repeats`` fresh
processes run in alternation (facade, lean, lean-otlp, facade, ...), each
recording at least ``ops`` operations for at least ``min_seconds`` with the
garbage collector on, so caps fill and files are written (see ``_load``); the
trace rows run until the largest cap has filled 1.2 times over. The span rows run
``window_repeats`` rounds: their windows are medians too (``window_medians``).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["host_rows", "sustained_rows", "sustained_targets", "window_medians"]

#: ``_load`` run by its path, not as ``monitoring_layer.bench._load``: ``-m`` would import our package
#: (its parents) into every contender's process. ``-c`` puts the temporary working folder first on the path.
_RUNNER = "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
_LOAD_SCRIPT = str(Path(__file__).with_name("_load.py"))

LABELS = {"facade": "monitoring-layer", "lean": "lean OTel (no-op exporter)",
          "lean-otlp": "lean OTel + OTLP encoding", "none": "nothing recorded"}
WORKLOAD_LABELS = {"root-span": "root span, made current", "trace-5": "trace: root + 5 children, per span",
                   "log": "log info record", "histogram": "histogram observe, one label",
                   "root-span-threads": "root span, 8 threads at once", "log-threads": "log info record, 8 threads at once"}


def _run(setup: str, workload: str, ops: int, seconds: float, cap: int | None) -> dict[str, Any]:
    arguments = [setup, workload, str(ops), str(seconds), "-" if cap is None else str(cap)]
    command = [sys.executable, "-c", _RUNNER, _LOAD_SCRIPT, *arguments]
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd=tmp,
                              env=_clean_env())
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)} failed: {done.stderr.strip()[-2000:]}")
    run: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if setup != "facade" and run.get("imported_monitoring_layer") is not False:
        raise RuntimeError(f"{' '.join(arguments)}: the contender's process imported monitoring_layer, so its "
                           "garbage collections walked our modules too; the comparison would be unfair to it")
    return run


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONITORING_"))}


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median cost, with the medians of its figures across runs."""
    ordered = sorted(runs, key=lambda r: r["us_per_op"])
    row = dict(ordered[len(ordered) // 2])
    for key in ("us_per_op", "cpu_us_per_op", "gc_max_pause_ms", "gc_tracked_objects", "peak_rss_mib",
                "helper_cpu_us_per_op", "helper_rss_mib"):
        row[key] = statistics.median(r.get(key, 0.0) for r in runs)
    row["windows"] = window_medians(runs)
    row["runs"] = len(runs)
    return row


def window_medians(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each window's median cost over the runs that all reached it, like every other figure of a row.

    A window of 1,000 operations lasts 50-100 ms, and this kind of machine's speed alone moves such a
    window by up to 1.7x for identical work (it runs at two speeds, switching every second or so; lean
    OTel's windows move as ours do): one run's windows would show the machine's drift, not how the
    cost grows with the spans recorded.
    Drift is independent from run to run, a growing cost is not, so the median keeps what matters.
    Windows end at the same operation counts in every run; those past the shortest run are left out.
    """
    per_run = [{w["ops"]: w["us_per_op"] for w in run["windows"]} for run in runs]
    if not per_run:
        return []
    common = [ops for ops in per_run[0] if all(ops in windows for windows in per_run)]
    return [{"ops": ops, "us_per_op": statistics.median(windows[ops] for windows in per_run)} for ops in common]


def sustained_rows(plan: dict[str, Any], say: Callable[[str], None] = lambda _: None) -> list[dict[str, Any]]:
    """One row per (workload, setup, cap): cost per operation, its windows, GC figures."""
    # Imported here, not at the top: `python -m monitoring_layer.bench._load` imports this package first.
    from monitoring_layer.bench._load import SPANS_PER_OP

    ops, seconds, repeats = plan["sustained_ops"], plan["sustained_seconds"], plan["sustained_repeats"]
    # The span rows run more often: their windows are medians too (see window_medians), and a median
    # of two is a mean, which one run's drift still moves by half.
    span_repeats = max(repeats, plan.get("window_repeats", repeats))
    caps = plan["sustained_caps"]
    # Every trace row runs long enough to fill the largest cap 1.2 times over, so that row measures
    # a full store and a full file; its contenders run as long, so their ratios compare like with like.
    trace_ops = max(ops, int(1.2 * max(caps) * SPANS_PER_OP["trace-5"]))
    cases: list[tuple[str, str, int | None, float, int]] = []
    for workload, caps_here, spans in (("root-span", (None,), ops), ("trace-5", caps, trace_ops)):
        cases += [(workload, "lean", None, seconds, spans), (workload, "lean-otlp", None, seconds, spans)]
        cases += [(workload, "facade", cap, seconds, spans) for cap in caps_here]
    cases += [("log", setup, None, seconds, ops) for setup in ("lean", "lean-otlp", "facade")]
    histogram_s = plan["sustained_histogram_seconds"]
    cases += [("histogram", setup, None, histogram_s, ops) for setup in ("lean", "facade")]
    # A worker pool recording at once (no minimum time: the threads' operations are the measure).
    cases += [(workload, setup, None, 0.0, ops) for workload in ("root-span-threads", "log-threads")
              for setup in ("lean", "facade")]
    results: dict[tuple[str, str, int | None], list[dict[str, Any]]] = {}
    for round_ in range(span_repeats):  # alternated: drift of the machine hits every contender alike
        say(f"sustained load, round {round_ + 1} of {span_repeats}")
        for workload, setup, cap, min_s, count in cases:
            if round_ >= repeats and workload not in ("root-span", "trace-5"):
                continue
            run = _run(setup, workload, max(1, count // SPANS_PER_OP.get(workload, 1)), min_s, cap)
            results.setdefault((workload, setup, cap), []).append(run)
    rows = []
    for (workload, setup, cap), runs in results.items():
        row = _median_run(runs)
        lean = results.get((workload, "lean", None))
        otlp = results.get((workload, "lean-otlp", None))
        row["label"] = LABELS[setup]
        row["operation"] = WORKLOAD_LABELS[workload]
        row["vs_lean"] = row["us_per_op"] / _median_run(lean)["us_per_op"] if lean and setup != "lean" else None
        row["vs_lean_otlp"] = (row["us_per_op"] / _median_run(otlp)["us_per_op"]
                               if otlp and setup == "facade" else None)
        row["cpu_vs_lean"] = (row["cpu_us_per_op"] / _median_run(lean)["cpu_us_per_op"]
                              if lean and setup != "lean" else None)
        windows = [w["us_per_op"] for w in row["windows"]]
        row["window_spread"] = (max(windows) / min(windows)) if windows else None
        rows.append(row)
    return rows


def host_rows(plan: dict[str, Any], say: Callable[[str], None] = lambda _: None) -> list[dict[str, Any]]:
    """A foreground thread's pure-Python work while 2,000 spans/s + 2,000 logs/s are recorded."""
    seconds, repeats = plan["host_seconds"], plan["sustained_repeats"]
    results: dict[str, list[dict[str, Any]]] = {}
    for round_ in range(repeats):
        say(f"host thread, round {round_ + 1} of {repeats}")
        for setup in ("none", "lean", "facade"):
            results.setdefault(setup, []).append(_run(setup, "host", 0, seconds, None))
    base = statistics.median(r["steps_per_s"] for r in results["none"])
    rows = []
    for setup, runs in results.items():
        steps = statistics.median(r["steps_per_s"] for r in runs)
        rows.append({"setup": setup, "label": LABELS[setup], "steps_per_s": steps,
                     "recorded_per_s": statistics.median(r["recorded_per_s"] for r in runs),
                     "slowdown": base / steps if steps else None,
                     "longest_pause_ms": max(r["longest_pause_ms"] for r in runs),
                     "gc_max_pause_ms": max(r["gc_max_pause_ms"] for r in runs),
                     "gc_tracked_objects": statistics.median(r["gc_tracked_objects"] for r in runs),
                     "runs": len(runs)})
    return rows


def sustained_targets(rows: list[dict[str, Any]], host: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The performance issue's targets, judged from the sustained rows (default cap where caps vary)."""
    found: list[dict[str, Any]] = []

    def add(target: str, measured: str, met: bool) -> None:
        found.append({"target": target, "measured": measured, "met": met})

    def facade(workload: str, cap: int | None = None) -> dict[str, Any] | None:
        return next((r for r in rows if r["workload"] == workload and r["setup"] == "facade"
                     and (cap is None or r["cap"] == cap)), None)

    for workload, limit in (("root-span", 1.3), ("trace-5", 1.3), ("log", 1.0), ("histogram", 1.0)):
        candidates = [r for r in rows if r["workload"] == workload and r["setup"] == "facade"]
        for row in candidates:
            if row["vs_lean"] is not None:
                cap = f" (cap {row['cap']:,})" if row["cap"] else ""
                add(f"{WORKLOAD_LABELS[workload]}{cap}: <= {limit:g}x lean OTel", f"{row['vs_lean']:.2f}x",
                    row["vs_lean"] <= limit)
    spans = [r for r in rows if r["workload"] in ("root-span", "trace-5") and r["setup"] == "facade"]
    for row in spans:
        if row["window_spread"] is not None and len(row["windows"]) > 1:
            cap = f" (cap {row['cap']:,})" if row["cap"] else ""
            # The lean contender's own spread says how much of it is the machine, not the library.
            lean = next((r for r in rows if r["workload"] == row["workload"] and r["setup"] == "lean"), None)
            context = (f" (lean OTel: {(lean['window_spread'] - 1) * 100:.0f}%)"
                       if lean and lean.get("window_spread") else "")
            add(f"{WORKLOAD_LABELS[row['workload']]}{cap}: flat within 10% from {row['windows'][0]['ops']:,} to "
                f"{row['windows'][-1]['ops']:,} spans", f"{(row['window_spread'] - 1) * 100:.0f}% spread{context}",
                row["window_spread"] <= 1.1)
    capped = [r for r in rows if r["workload"] == "trace-5" and r["setup"] == "facade" and r["cap"]]
    if len(capped) > 1:
        costs = [r["us_per_op"] for r in capped]
        spread = max(costs) / min(costs)
        caps = ", ".join(f"{r['cap']:,}" for r in capped)
        add(f"trace spans flat within 10% across caps {caps}",
            f"{(spread - 1) * 100:.0f}% spread", spread <= 1.1)
    by_setup = {r["setup"]: r for r in host}
    if {"none", "lean", "facade"} <= set(by_setup):
        ours, lean = by_setup["facade"]["slowdown"], by_setup["lean"]["slowdown"]
        add("foreground thread at 2,000 spans/s + 2,000 logs/s: slowdown <= 1.3x lean OTel's",
            f"{ours:.3f}x against {lean:.3f}x ({ours / lean:.2f}x)", ours / lean <= 1.3)
        pause = by_setup["facade"]["longest_pause_ms"]
        add("foreground thread: no pause over 50 ms", f"{pause:.1f} ms", pause <= 50)
        objects, lean_objects = by_setup["facade"]["gc_tracked_objects"], by_setup["lean"]["gc_tracked_objects"]
        add("GC-tracked objects at the default caps <= 2x lean OTel",
            f"{objects:,.0f} against {lean_objects:,.0f} ({objects / lean_objects:.2f}x)",
            objects <= 2 * lean_objects)
    return found
