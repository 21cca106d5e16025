"""The ``monitoring-layer`` command.

Subcommands:

* ``check [--home DIR] [--json]``: validate every documented file in a home
  against its schema; print per file the record counts, the time span and
  the problems. Exit status 1 when a file is invalid. Read-only.
* ``bench [--quick] [--json PATH]``: the facades against raw OpenTelemetry and
  prometheus_client in one interleaved run (docs/benchmarks.md).
* ``selftest``: check each of the spec's eight areas end to end in a temporary
  home; print ``✓ PASS: <area>`` or ``✗ FAIL: <area> — <reason>``. Exit status 1
  when an area failed (docs/integration.md).
* ``serve [--home DIR] [--host 127.0.0.1] [--port 8050]``: the dashboard over a
  home written by any number of processes, with the probes (docs/dashboard.md).
* ``demo [--home DIR] [--port 8050] [--duration SECONDS]``: a simulated data
  platform with injected faults, the files written and the dashboard served.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monitoring_layer._version import __version__
from monitoring_layer.config import ConfigError, get_settings

__all__ = ["check_home", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="monitoring-layer",
        description="Metrics, logs and traces for Python data platforms, on OpenTelemetry.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = commands.add_parser(
        "check", help="validate the JSON files in a monitoring home",
        description="Validate every documented file in a monitoring home against its JSON Schema "
                    "and summarise it. Exit status 1 when a file is invalid.")
    check.add_argument("--home", type=Path, default=None,
                       help="the home to check (default: MONITORING_HOME, else /tmp/monitoring)")
    check.add_argument("--json", action="store_true", help="print the report as JSON")

    bench = commands.add_parser(
        "bench", help="measure the facades against raw OpenTelemetry and prometheus_client",
        description="Measure, in one interleaved run, the facades against raw OpenTelemetry on the same "
                    "providers and against prometheus_client; then the JSON exporters' write rate and the "
                    "peak memory of large workloads.")
    bench.add_argument("--quick", action="store_true", help="a smoke run: small counts, seconds not minutes")
    bench.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the report as JSON")

    commands.add_parser(
        "selftest", help="check every area end to end in a temporary home",
        description="Run a check of each of the spec's eight areas, each in a fresh interpreter on its own "
                    "temporary MONITORING_HOME. Exit status 1 when an area failed.")

    serve = commands.add_parser(
        "serve", help="serve the dashboard over a monitoring home",
        description="Serve the dashboard, its JSON API and the probes over the files of a monitoring home "
                    "(read-only; any number of processes may write it). MONITORING_DASHBOARD_TOKEN, when set, "
                    "is required as a bearer token on /api/* and enables the actions.")
    serve.add_argument("--home", type=Path, default=None, help="the home to read (default: MONITORING_HOME)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8050, help="port (default: 8050; 0 picks a free one)")

    demo = commands.add_parser(
        "demo", help="run a simulated data platform with the dashboard",
        description="Run a simulated data platform (ingest, batch jobs, lakehouse writes, governance checks) "
                    "with injected faults, write the JSON files and serve the dashboard, /metrics and the "
                    "probes until Ctrl-C or the duration ends; then print a summary.")
    demo.add_argument("--home", type=Path, default=None, help="where to write (default: MONITORING_HOME)")
    demo.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    demo.add_argument("--port", type=int, default=8050, help="port (default: 8050; 0 picks a free one)")
    demo.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                      help="stop after this many seconds (default: run until Ctrl-C)")

    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "check":
        try:
            home = args.home if args.home is not None else get_settings().home
        except ConfigError as exc:
            print(f"monitoring-layer: {exc}", file=sys.stderr)
            return 2
        report = check_home(home)
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            _print_report(report)
        return 1 if any(f["status"] == "invalid" for f in report["files"]) else 0
    if args.command == "bench":
        from monitoring_layer.bench import render, run_bench

        report = run_bench(quick=args.quick)
        print(render(report))
        if args.json is not None:
            args.json.write_text(json.dumps(report, indent=2) + "\n")
        return 0
    if args.command == "selftest":
        from monitoring_layer.selftest import print_report, run_selftest

        results = run_selftest()
        print_report(results)
        return 0 if all(r["ok"] for r in results) else 1
    if args.command == "serve":
        return _serve(args.home, args.host, args.port)
    if args.command == "demo":
        from monitoring_layer.demo import run_demo

        if args.duration is not None and args.duration <= 0:
            parser.error("--duration must be > 0")
        try:
            run_demo(args.home, host=args.host, port=args.port, duration_s=args.duration)
        except (ConfigError, OSError) as exc:
            print(f"monitoring-layer: {exc}", file=sys.stderr)
            return 2
        return 0
    return 2  # pragma: no cover - argparse rejects unknown commands


def _serve(home: Path | None, host: str, port: int) -> int:
    import threading

    from monitoring_layer._http import start_server
    from monitoring_layer.dashboard import ObservabilityDashboard
    from monitoring_layer.dashboard._serve import build_router

    try:
        home = home if home is not None else get_settings().home
        server = start_server(build_router(ObservabilityDashboard.from_home(home)), host, port)
    except (ConfigError, OSError, ValueError) as exc:
        print(f"monitoring-layer: {exc}", file=sys.stderr)
        return 2
    print(f"monitoring-layer: dashboard of {home} on {server.url}/ (probes: /livez /readyz /healthz); "
          "Ctrl-C stops", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def check_home(home: Path) -> dict[str, Any]:
    """Validate and summarise every documented file under ``home`` (reads only)."""
    from monitoring_layer.exporters import FILES, load_schema, validate

    home = Path(home)
    files = []
    for relative, schema_name in FILES.items():
        path = home / relative
        entry: dict[str, Any] = {"file": relative, "path": str(path)}
        quarantined = sorted(p.name for p in path.parent.glob(path.name + ".corrupt-*")) if path.parent.is_dir() else []
        if quarantined:
            entry["quarantined"] = quarantined
        if not path.exists():
            files.append({**entry, "status": "absent", "problems": []})
            continue
        try:
            doc = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            files.append({**entry, "status": "invalid", "problems": [f"not readable JSON: {exc}"]})
            continue
        problems = validate(doc, load_schema(schema_name))
        entry.update(_summary(schema_name, doc) if not problems else {})
        files.append({**entry, "status": "invalid" if problems else "ok", "problems": problems})
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
    from monitoring_layer._encode import iso

    span = {"oldest": iso(min(times)), "newest": iso(max(times))} if times else {}
    return {"counts": counts, "time_span": span}


def _print_report(report: dict[str, Any]) -> None:
    print(f"monitoring home: {report['home']}")
    for entry in report["files"]:
        mark = {"ok": "ok", "absent": "--", "invalid": "!!"}[entry["status"]]
        line = f"  [{mark}] {entry['file']}: {entry['status']}"
        if entry.get("counts"):
            line += " (" + ", ".join(f"{n} {what}" for what, n in entry["counts"].items()) + ")"
        if entry.get("time_span"):
            line += f" from {entry['time_span']['oldest']} to {entry['time_span']['newest']}"
        print(line)
        for problem in entry["problems"]:
            print(f"       {problem}")
        for name in entry.get("quarantined", []):
            print(f"       note: an earlier corrupt copy was set aside as {name}")
