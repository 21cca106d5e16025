"""Read a ``MONITORING_HOME`` written by other processes: read-only, reloaded when a file changes.

The writers replace each file atomically (temporary file + rename), so a reader
never sees half a document and needs no lock at all: it never takes the
writers' ``flock``. Each file is parsed again only when its ``(inode, mtime,
size)`` changes; between changes every panel reads the parsed copy and the
aggregates built from it once (the trace rollup, the log totals). A file that
is absent reads as empty; one that is not valid JSON keeps the last good copy
and is counted as a ``dashboard`` fault.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from monitoring_layer import _selfmon

from ._rollup import TraceRollup, rollup_from_traces

__all__ = ["CachedFile", "HomeFiles"]

T = TypeVar("T")
LEVEL_ORDER = ("TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class CachedFile(Generic[T]):
    """One JSON file, parsed by ``parse(document)`` again only when it changed on disk."""

    def __init__(self, path: Path, parse: Callable[[Any], T], empty: Callable[[], T]) -> None:
        self.path = path
        self._parse = parse
        self._empty = empty
        self._lock = threading.Lock()
        self._key: tuple[int, int, int] | None = None
        self._bad_key: tuple[int, int, int] | None = None
        self._value: T = empty()
        self.loads = 0

    def get(self) -> T:
        try:
            st = os.stat(self.path)
        except OSError:
            with self._lock:
                if self._key is not None:
                    self._key, self._value = None, self._empty()
                return self._value
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:  # one reload at a time; the others wait for it rather than parse twice
            if key == self._key or key == self._bad_key:
                return self._value
            try:
                with open(self.path, "rb") as handle:
                    document = json.loads(handle.read())
                value = self._parse(document)
            except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
                self._bad_key = key  # counted once per bad version of the file, not per read
                _selfmon.fault("dashboard", f"cannot read {self.path}: {exc}", key=str(self.path), strict=False)
                return self._value
            self._key, self._value = key, value
            self.loads += 1
            return value


def _records(document: Any, key: str) -> list[Any]:
    if isinstance(document, Mapping):
        value = document.get(key)
        return list(value) if isinstance(value, list) else []
    return list(document) if isinstance(document, list) else []


class TracesFile:
    """``traces/traces.json``: traces newest first, by id, and their rollup (built once per change)."""

    def __init__(self, document: Any) -> None:
        traces = [t for t in _records(document, "traces") if isinstance(t, Mapping)]
        traces.sort(key=lambda t: t.get("end_unix_nano") or 0, reverse=True)
        self.traces = traces
        self.by_id = {str(t.get("trace_id")): t for t in traces}
        self.rollup: TraceRollup = rollup_from_traces(traces, TraceRollup(recent=max(1_000, len(traces))))


class LogsFile:
    """``logs/logs.json``: records newest first and their totals (computed once per change)."""

    def __init__(self, document: Any) -> None:
        records = [r for r in _records(document, "records") if isinstance(r, Mapping)]
        records.sort(key=lambda r: r.get("time_unix_nano") or 0, reverse=True)
        self.records = records
        by_level = {name: 0 for name in LEVEL_ORDER[1:]}
        by_component: dict[str, int] = {}
        for record in records:
            level = str(record.get("level", "UNSPECIFIED"))
            by_level[level] = by_level.get(level, 0) + 1
            component = str(record.get("component", ""))
            by_component[component] = by_component.get(component, 0) + 1
        errors = by_level.get("ERROR", 0) + by_level.get("CRITICAL", 0)
        self.totals = {"total": len(records), "by_level": by_level, "errors": errors,
                       "error_rate": round(errors / len(records), 6) if records else 0.0,
                       "by_component": dict(sorted(by_component.items(), key=lambda kv: (-kv[1], kv[0])))}


def _empty_traces() -> TracesFile:
    return TracesFile({})


def _empty_logs() -> LogsFile:
    return LogsFile({})


def _metrics(document: Any) -> dict[str, Any]:
    metrics = document.get("metrics") if isinstance(document, Mapping) else None
    return dict(metrics) if isinstance(metrics, Mapping) else {}


def _document(document: Any) -> Any:
    return document


class HomeFiles:
    """The documented files of one home, each a ``CachedFile``."""

    def __init__(self, home: str | os.PathLike[str]) -> None:
        self.home = Path(home)
        h = self.home
        self.metrics = CachedFile(h / "metrics" / "metrics_registry.json", _metrics, dict)
        self.logs = CachedFile(h / "logs" / "logs.json", LogsFile, _empty_logs)
        self.traces = CachedFile(h / "traces" / "traces.json", TracesFile, _empty_traces)
        self.health_status = CachedFile(h / "health" / "health_status.json", _document, dict)
        self.health_history = CachedFile(h / "health" / "health_history.json", _document, dict)
        self.alert_rules = CachedFile(h / "alerts" / "rules.json", _document, dict)
        self.incidents = CachedFile(h / "alerts" / "incidents.json", _document, dict)
        self.audit_log = CachedFile(h / "alerts" / "audit_log.json", _document, dict)
