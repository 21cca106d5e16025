"""``monitoring-layer serve`` and ``demo``: the dashboard over a home, and a simulated platform behind it."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from monitoring_layer.config import ConfigError, get_settings
from monitoring_layer.exporters.prometheus_multiprocess import MultiprocessCollector

__all__ = ["add_parsers", "run_demo_command", "run_serve_command"]


def add_parsers(commands: Any) -> None:
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


def run_demo_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from monitoring_layer.demo import run_demo

    if args.duration is not None and args.duration <= 0:
        parser.error("--duration must be > 0")
    try:
        run_demo(args.home, host=args.host, port=args.port, duration_s=args.duration)
    except (ConfigError, OSError) as exc:
        print(f"monitoring-layer: {exc}", file=sys.stderr)
        return 2
    return 0


def run_serve_command(args: argparse.Namespace) -> int:
    from monitoring_layer._http import start_server
    from monitoring_layer.dashboard import ObservabilityDashboard
    from monitoring_layer.dashboard._serve import build_router

    home, host, port = args.home, args.host, args.port
    try:
        home = home if home is not None else get_settings().home
        # /metrics: every process that writes its state into this home
        # (MONITORING_PROMETHEUS_MULTIPROCESS=true), merged (docs/operations.md).
        registry = CollectorRegistry(auto_describe=False)
        registry.register(MultiprocessCollector(home))  # type: ignore[arg-type]
        server = start_server(build_router(ObservabilityDashboard.from_home(home), prometheus_registry=registry),
                              host, port)
    except (ConfigError, OSError, ValueError) as exc:
        print(f"monitoring-layer: {exc}", file=sys.stderr)
        return 2
    print(f"monitoring-layer: dashboard of {home} on {server.url}/ (probes: /livez /readyz /healthz; "
          "/metrics: the home's processes merged); Ctrl-C stops", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
