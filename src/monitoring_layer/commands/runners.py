"""``monitoring-layer selftest`` and ``bench``: the two commands that run things and take a while.

Both tell the person what they are doing while they run: selftest prints each
area's line as soon as it is known; bench names each section on stderr (so a
redirected report stays clean).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from monitoring_layer.bench import SECTIONS, render, run_bench
from monitoring_layer.commands._output import EXIT_NOTHING, EXIT_OK, Output
from monitoring_layer.selftest import AREAS, print_report, run_selftest

__all__ = ["add_parsers", "run_bench_command", "run_selftest_command"]


def add_parsers(commands: Any) -> None:
    bench = commands.add_parser(
        "bench", help="measure the facades against raw OpenTelemetry and prometheus_client",
        description="Measure, in one interleaved run, the facades against raw OpenTelemetry on the same "
                    "providers and against prometheus_client; then the JSON exporters' write rate, the "
                    "peak memory of large workloads, the engines, the /metrics scrape, and sustained load "
                    "against a lean OpenTelemetry setup in fresh processes. The section being measured is "
                    "named on stderr.")
    bench.add_argument("--quick", action="store_true",
                       help="a smoke run in seconds: indicative figures only, no verdict on the targets")
    bench.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the report as JSON")
    bench.add_argument("--only", action="append", choices=SECTIONS, metavar="SECTION",
                       help="only this section (repeatable): " + ", ".join(SECTIONS))

    selftest = commands.add_parser(
        "selftest", help="check every area end to end in a temporary home",
        description="Run a check of each of the spec's eight areas, each in a fresh interpreter on its own "
                    "temporary MONITORING_HOME, printing each area's line as it finishes. Exit status 1 when "
                    "an area failed.")
    selftest.add_argument("--area", action="append", choices=[key for key, _ in AREAS], metavar="NAME",
                          help="only this area (repeatable): " + ", ".join(key for key, _ in AREAS))
    selftest.add_argument("--json", action="store_true", help="print the results as one JSON document")


def run_selftest_command(args: argparse.Namespace, out: Output) -> int:
    def show(result: dict[str, Any]) -> None:
        print_report([result], out.stream)

    results = run_selftest(args.area, on_result=None if args.json else show)
    if args.json:
        out.line(json.dumps({"ok": all(r["ok"] for r in results), "areas": results}, indent=2,
                            ensure_ascii=False))
    return EXIT_OK if all(r["ok"] for r in results) else EXIT_NOTHING


def run_bench_command(args: argparse.Namespace, out: Output) -> int:
    def section(text: str) -> None:
        print(f"bench: {text}…", file=out.err, flush=True)

    report = run_bench(quick=args.quick, progress=section, only=set(args.only) if args.only else None)
    out.line(render(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return EXIT_OK
