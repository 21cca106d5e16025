"""Reading a monitoring home, read-only and without the writers' lock.

Writers replace each file by renaming a complete temporary file over it
(``exporters/_store.py``), so one ``open`` + ``read`` always sees a whole
document, the old one or the new one, however many processes write. A reader
therefore takes no lock at all: it never delays a writer, and it works on a home
it may only read. Nothing is created, repaired or quarantined here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitoring_layer.commands._output import CommandError
from monitoring_layer.config import ConfigError, resolve_setting

__all__ = ["FileState", "file_state", "load_document", "reads_recorded", "resolve_home"]

#: The documented file of each document ``kind``, relative to the home.
FILES = {
    "traces": "traces/traces.json",
    "logs": "logs/logs.json",
    "metrics": "metrics/metrics_registry.json",
    "health_status": "health/health_status.json",
    "health_history": "health/health_history.json",
    "alert_rules": "alerts/rules.json",
    "alert_incidents": "alerts/incidents.json",
}


_reads: ContextVar[list[Path] | None] = ContextVar("monitoring_layer_cli_reads", default=None)


@contextmanager
def reads_recorded(paths: list[Path]) -> Iterator[None]:
    """Append to ``paths`` every file ``load_document`` parses in the block (so an error can name it)."""
    token = _reads.set(paths)
    try:
        yield
    finally:
        _reads.reset(token)


def resolve_home(option: str | None) -> Path:
    """``--home`` if given, else ``MONITORING_HOME`` (only that setting is read); must be a folder."""
    try:
        home = Path(option).expanduser().absolute() if option else resolve_setting("home")
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    if not home.exists():
        raise CommandError(f"no monitoring home at {home} (set --home or MONITORING_HOME)")
    if not home.is_dir():
        raise CommandError(f"monitoring home {home} is not a folder")
    if not os.access(home, os.R_OK | os.X_OK):
        raise CommandError(f"monitoring home {home} is not readable")
    return home


@dataclass(frozen=True)
class FileState:
    """What identifies one version of a file: a writer's rename changes the inode, a rewrite the size/mtime."""

    inode: int
    size: int
    mtime_ns: int


def file_state(path: Path) -> FileState | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    return FileState(st.st_ino, st.st_size, st.st_mtime_ns)


def load_document(home: Path, signal: str) -> dict[str, Any] | None:
    """The document of kind ``signal`` (a key of ``FILES``), or None when the file does not exist yet.

    An unreadable or non-JSON file raises ``CommandError`` (exit 2); the file is
    left as it is (``monitoring-layer check`` explains what is wrong with it).
    """
    path = home / FILES[signal]
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than the parser goes
        raise CommandError(f"{path} is not valid JSON ({exc}); run `monitoring-layer check`") from None
    if not isinstance(doc, dict) or doc.get("kind") != signal:
        raise CommandError(f"{path} is not a {signal} document; run `monitoring-layer check`")
    reads = _reads.get()
    if reads is not None and path not in reads:
        reads.append(path)
    return doc
