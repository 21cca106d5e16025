"""What every subcommand shares: exit statuses, ``--since`` durations, colours, the output stream."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_NOTHING", "EXIT_OK", "EXIT_USAGE", "CommandError", "Output", "add_common", "format_ms",
           "parse_count",
           "isatty", "parse_duration", "parse_iso", "short_time", "table"]

EXIT_OK = 0        # printed results
EXIT_NOTHING = 1   # nothing matched (or, for check/selftest, something failed)
EXIT_USAGE = 2     # bad usage or an unreadable home
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader closed our stdout (`| head`), as a killed `cat` reports

_PIECE = 8192  # characters per write of Output.line (see there)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_DURATION_MAX_S = 100 * 365.25 * 86400


class CommandError(Exception):
    """A problem the user must fix (bad argument, unreadable home): message on stderr, exit 2."""


def parse_count(text: str) -> int:
    """A ``--limit`` value: a whole number, 0 meaning all (argparse ``type=``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (all) or more")
    return value


def parse_duration(text: str) -> float:
    """``"10m"`` -> 600.0 seconds; units ``s``, ``m``, ``h``, ``d`` (argparse ``type=``)."""
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30s, 10m, 2h or 7d")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds > _DURATION_MAX_S:  # a time that far back is before 1970: nothing to compare with
        raise argparse.ArgumentTypeError(f"{text!r} is longer than 100 years")
    return seconds


def add_common(parser: argparse.ArgumentParser, *, json_help: str = "print one JSON document") -> None:
    """``--home`` and ``--json``, the options every reading subcommand has."""
    parser.add_argument("--home", default=None, metavar="DIR",
                        help="the monitoring home to read (default: MONITORING_HOME, else /tmp/monitoring)")
    parser.add_argument("--json", action="store_true", help=json_help)


# SGR colours per level; only used when the stream is a terminal and NO_COLOR is unset.
_COLOURS = {"DEBUG": "2", "TRACE": "2", "INFO": "32", "WARNING": "33", "ERROR": "31", "CRITICAL": "1;31",
            "bar": "36", "dim": "2", "bold": "1",
            # span and trace statuses (monitoring_layer._status)
            "SUCCESS": "32", "TIMEOUT": "31", "CANCELLED": "2", "ABANDONED": "2",
            # health statuses, alert states and severities (lower case: never a log level)
            "healthy": "32", "degraded": "33", "unhealthy": "31", "unknown": "2",
            "pending": "33", "triggered": "31", "acknowledged": "36", "suppressed": "2", "resolved": "32",
            "low": "2", "medium": "33", "high": "31", "critical": "1;31"}
# Stand-ins for a stream whose encoding cannot show the drawing characters.
_ASCII = str.maketrans({"█": "#", "▏": "|", "─": "-", "└": "`", "├": "|", "│": "|", "…": "...", "—": "-",
                        "✓": "+", "✗": "x", "▁": "_", "▂": "_", "▃": "-", "▄": "-", "▅": "=", "▆": "=",
                        "▇": "#", "µ": "u", "·": "."})


class Output:
    """The command's stdout: colours only on a terminal, ASCII stand-ins where the encoding needs them."""

    def __init__(self, stream: TextIO | None = None, *, err: TextIO | None = None, colour: bool | None = None,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        if colour is None:
            colour = isatty(self.stream) and not os.environ.get("NO_COLOR")
        self.colour = colour
        self.clock = clock  # epoch nanoseconds; injected by tests so --since is exact

    def paint(self, text: str, style: str) -> str:
        """``text`` in the colour of ``style`` (a level name or bar/dim/bold) on a terminal, else as is."""
        code = _COLOURS.get(style)
        return f"\033[{code}m{text}\033[0m" if self.colour and code else text

    def line(self, text: str = "") -> None:
        text += "\n"
        # A long text (a --json document) goes out in pieces: one large write that meets a reader
        # closing the pipe can come back short *without* an error (the buffered writer returns the
        # count, the text layer ignores it), so the rest would vanish and the command exit 0.
        # Piece by piece, the next write raises BrokenPipeError and main() reports it.
        for start in range(0, len(text), _PIECE):
            piece = text[start:start + _PIECE]
            try:
                self.stream.write(piece)
            except UnicodeEncodeError:
                self.stream.write(piece.translate(_ASCII).encode("ascii", "replace").decode("ascii"))

    def note(self, text: str) -> None:
        """A message for the person, not the pipe: on stderr (e.g. why nothing was printed)."""
        print(f"monitoring-layer: {text}", file=self.err)

    def flush(self) -> None:
        self.stream.flush()


def isatty(stream: Any) -> bool:
    """True when ``stream`` is a terminal (False for anything without a working ``isatty``)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def table(out: Output, header: Sequence[str], rows: Sequence[Sequence[str]], *,
          styled: dict[int, int] | None = None, right: frozenset[int] = frozenset()) -> None:
    """Print columns padded to width; column ``i`` is painted in the style named by cell ``styled[i]``
    of its row (e.g. a status column in its status's colour), columns in ``right`` are right-aligned."""
    styled = styled or {}
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def cells(row: Sequence[str], paint: bool) -> str:
        padded = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        if paint:
            padded = [out.paint(c, row[styled[i]]) if i in styled and row[i] else c for i, c in enumerate(padded)]
        return "  ".join(padded).rstrip()

    out.line(cells(header, False))
    for row in rows:
        out.line(cells(row, True))


def short_time(ns: int) -> str:
    """Epoch nanoseconds as ``2026-11-28 08:21:46.288`` UTC (millisecond precision)."""
    seconds, rest = divmod(int(ns), 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%d %H:%M:%S") + f".{rest // 1_000_000:03d}"


def parse_iso(text: str | None) -> int | None:
    """``2026-11-28T08:21:46.288126Z`` (or with an offset) as epoch nanoseconds; None when not a time."""
    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return int(stamp.timestamp()) * 1_000_000_000 + stamp.microsecond * 1000


def format_ms(ms: float) -> str:
    """A duration for people: ``0.087 ms``, ``12.5 ms``, ``1.24 s``, ``3.1 min``."""
    if ms < 1:
        return f"{ms:.3f} ms"
    if ms < 1000:
        return f"{ms:.1f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    return f"{ms / 60_000:.1f} min"
