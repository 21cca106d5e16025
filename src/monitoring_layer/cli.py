"""The ``monitoring-layer`` command: the parser and the dispatch (each subcommand in ``commands/``).

Reading a home (read-only, no lock held, any number of writing processes):

* ``traces list|show``, ``logs [--follow]``, ``metrics list|show``, ``health``,
  ``alerts``: what the files hold, for people (colours on a terminal only) or
  ``--json``;
* ``check [--strict]``: validate every documented file against its schema.

Running things: ``selftest [--area NAME] [--json]``, ``bench [--quick]``;
``serve`` the dashboard over a home (docs/dashboard.md), ``demo`` a simulated
platform behind it.
``completion bash|zsh`` prints a completion script.

Exit status: 0 when results were printed, 1 when nothing matched (or a check,
selftest area or file failed), 2 for bad usage or an unreadable home, 141
(128 + SIGPIPE, without a traceback) when its output pipe was closed before it
finished (``... | head``). Every command reads only the settings it uses
(``MONITORING_HOME``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from monitoring_layer._version import __version__
from monitoring_layer.commands import alerts, check, completion, health, logs, metrics, runners, serving, traces
from monitoring_layer.commands._home import reads_recorded
from monitoring_layer.commands._output import EXIT_BROKEN_PIPE, EXIT_USAGE, CommandError, Output
from monitoring_layer.commands.check import check_home

__all__ = ["build_parser", "check_home", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (also the source of the completion scripts)."""
    parser = argparse.ArgumentParser(
        prog="monitoring-layer",
        description="Metrics, logs and traces for Python data platforms, on OpenTelemetry. "
                    "Exit status: 0 results printed, 1 nothing matched or a check failed, 2 bad usage "
                    "or an unreadable home.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    traces.add_parser(commands)
    logs.add_parser(commands)
    metrics.add_parser(commands)
    health.add_parser(commands)
    alerts.add_parser(commands)
    check.add_parser(commands)
    runners.add_parsers(commands)
    serving.add_parsers(commands)
    completion.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None,
         clock: Callable[[], int] = time.time_ns) -> int:
    """Run the command line; returns the exit status (``clock``, epoch ns, is what ``--since`` counts from)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse already explained
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    out = Output(stdout, err=stderr, clock=clock)
    if args.command is None:
        parser.print_help(out.stream)
        return EXIT_USAGE
    read: list[Path] = []
    try:
        with reads_recorded(read):
            status = _dispatch(args, out, parser)
        out.flush()
    except CommandError as exc:
        out.note(str(exc))
        return EXIT_USAGE
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError, RecursionError) as exc:
        # Valid JSON of the right kind but not the documented layout (hand-edited, or another version):
        # a field missing or of another type, a time out of range, a float that is not finite.
        out.note(_layout_fault(read, exc))
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`| head`). No traceback, and no second error when the interpreter
        # flushes stdout at exit; but not 0 either: the output was cut short, and under
        # `set -o pipefail` a script must see it as other tools (cat, grep) report it: 128 + SIGPIPE.
        _silence(out.stream)
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return 130
    return status


def _layout_fault(read: list[Path], exc: Exception) -> str:
    """Which file (of those the command read) lacks the documented layout, and what to run."""
    which = (str(read[0]) if len(read) == 1 else "one of " + ", ".join(map(str, read)) if read
             else "a file in the home")
    return (f"{which} does not have the documented layout ({type(exc).__name__}: {exc}); "
            "run `monitoring-layer check` to see what is wrong")


def _dispatch(args: argparse.Namespace, out: Output, parser: argparse.ArgumentParser) -> int:
    if args.command == "completion":
        return completion.run(args, out, parser)
    if args.command == "selftest":
        return runners.run_selftest_command(args, out)
    if args.command == "bench":
        return runners.run_bench_command(args, out)
    if args.command == "serve":
        return serving.run_serve_command(args)
    if args.command == "demo":
        return serving.run_demo_command(args, parser)
    module = {"traces": traces, "logs": logs, "metrics": metrics, "health": health, "alerts": alerts,
              "check": check}[args.command]
    status: int = module.run(args, out)
    return status


def _silence(stream: TextIO) -> None:
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
