"""Read a ``MONITORING_HOME`` written by other processes: read-only, reloaded when a file changes.

The writers replace each file atomically (temporary file + rename), so a reader
never sees half a document and needs no lock at all: it never takes the
writers' ``flock``. Each file is read again only when its ``(inode, mtime,
size)`` changes, and then only its *new* records are parsed: the store writes
one record per line, so a line seen in the previous version is reused as
parsed then (a file that is not laid out that way is parsed whole). The trace
rollup likewise only adds the traces that are new in the file. A reload
therefore costs reading the file plus the new records, and panels between
reloads read the parsed copy. An absent file reads as empty; one that is not
valid JSON keeps the last good copy and is counted once as a ``dashboard`` fault.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from monitoring_layer import _selfmon
from monitoring_layer._status import ERROR, migrate_trace_record

from ._rollup import TraceRollup

try:  # the "fast" extra: orjson parses the files about three times faster
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - depends on the extra
    _loads = json.loads  # type: ignore[assignment]

__all__ = ["CachedFile", "HomeFiles", "LineCache"]

LEVEL_ORDER = ("TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class LineCache:
    """Parses the store's one-record-per-line layout, reusing the records of unchanged lines."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._opening = f' "{key}": '
        self._parsed: dict[str, Any] = {}

    def load(self, text: str) -> Any:
        """The value under ``key`` (a list of records, or a dict of entries); ValueError when not JSON."""
        try:
            return self._incremental(text)
        except (ValueError, LookupError):
            self._parsed = {}
            document = _loads(text)
            if not isinstance(document, Mapping):
                raise ValueError("the document is not a JSON object") from None
            return document.get(self.key)

    def _incremental(self, text: str) -> Any:
        lines = text.split("\n")
        if not lines or lines[0] != "{":
            raise ValueError("not the store's layout")
        start = next(i for i, line in enumerate(lines) if line.startswith(self._opening))
        head = lines[start][len(self._opening):]
        if head in ("[]", "[],", "{}", "{},"):
            self._parsed = {}
            return [] if head.startswith("[") else {}
        if head not in ("[", "{"):
            raise ValueError("not the store's layout")
        is_list = head == "["
        closing = " ]" if is_list else " }"
        bodies: list[str] = []
        for line in lines[start + 1:]:
            if line.startswith(closing):
                break
            body = line.strip()
            bodies.append(body[:-1] if body.endswith(",") else body)
        else:
            raise ValueError("the record list is not closed")
        previous = self._parsed
        fresh = sum(1 for body in bodies if body not in previous)
        if fresh > len(bodies) // 2:
            # Mostly new (the first load): one parse of the whole text is faster than one per line.
            document = _loads(text)
            whole = document[self.key]
            values = whole if is_list else [{k: v} for k, v in whole.items()]
            if len(values) != len(bodies):
                raise ValueError("lines and records do not pair up")
            self._parsed = dict(zip(bodies, values))
            return whole
        parsed: dict[str, Any] = {}
        items: list[Any] = []
        entries: dict[str, Any] = {}
        for body in bodies:
            value = previous.get(body)
            if value is None:
                value = _loads(body if is_list else "{" + body + "}")
            parsed[body] = value
            if is_list:
                items.append(value)
            else:
                entries.update(value)
        self._parsed = parsed
        return items if is_list else entries


class CachedFile:
    """One documented file: ``load(text)`` runs again only when the file changed on disk."""

    def __init__(self, path: Path, load: Callable[[str], Any], empty: Callable[[], Any]) -> None:
        self.path = path
        self._load = load
        self._empty = empty
        self._lock = threading.Lock()
        self._key: tuple[int, int, int] | None = None
        self._bad_key: tuple[int, int, int] | None = None
        self._value: Any = empty()
        self.loads = 0

    def get(self) -> Any:
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
                with open(self.path, encoding="utf-8") as handle:
                    text = handle.read()
                value = self._load(text)
            except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
                self._bad_key = key  # counted once per bad version of the file, not per read
                _selfmon.fault("dashboard", f"cannot read {self.path}: {exc}", key=str(self.path), strict=False)
                return self._value
            self._key, self._value = key, value
            self.loads += 1
            return value


class TracesState:
    """``traces/traces.json``: traces by id, and a rollup to which each reload adds only the new traces.

    The rollup's counts are running totals over every trace this reader has
    seen in the file (a trace the writers' retention later drops stays counted).
    Records of an older schema are migrated to the one status vocabulary as they are parsed.
    """

    def __init__(self) -> None:
        self._lines = LineCache("traces")
        self.by_id: dict[str, Mapping[str, Any]] = {}
        self.rollup = TraceRollup()

    def load(self, text: str) -> TracesState:
        records = self._lines.load(text)
        traces = [t for t in (records if isinstance(records, list) else []) if isinstance(t, dict)]
        seen = self.by_id
        for t in traces:  # a record of an unchanged line is the object seen (and migrated) before
            if seen.get(str(t.get("trace_id"))) is not t:
                migrate_trace_record(t)
        new = [t for t in traces if str(t.get("trace_id")) not in seen and isinstance(t.get("end_unix_nano"), int)]
        new.sort(key=lambda t: t["end_unix_nano"])
        for t in new:
            self.rollup.add(str(t.get("trace_id", "")), str(t.get("service", "unknown_service")),
                            str(t.get("name", "")), int(t.get("start_unix_nano") or t["end_unix_nano"]),
                            t["end_unix_nano"], t.get("status") == ERROR, t.get("span_count"))
        self.by_id = {str(t.get("trace_id")): t for t in traces}
        return self


class LogsState:
    """``logs/logs.json``: records newest first and their totals (over the records in the file)."""

    def __init__(self) -> None:
        self._lines = LineCache("records")
        self.records: list[Mapping[str, Any]] = []
        self.totals: dict[str, Any] = _log_totals([])

    def load(self, text: str) -> LogsState:
        records = self._lines.load(text)
        kept = [r for r in (records if isinstance(records, list) else []) if isinstance(r, Mapping)]
        kept.sort(key=lambda r: r.get("time_unix_nano") or 0, reverse=True)
        self.records = kept
        self.totals = _log_totals(kept)
        return self


def _log_totals(records: list[Mapping[str, Any]]) -> dict[str, Any]:
    by_level = {name: 0 for name in LEVEL_ORDER[1:]}
    by_component: dict[str, int] = {}
    for record in records:
        level = str(record.get("level", "UNSPECIFIED"))
        by_level[level] = by_level.get(level, 0) + 1
        component = str(record.get("component", ""))
        by_component[component] = by_component.get(component, 0) + 1
    errors = by_level.get("ERROR", 0) + by_level.get("CRITICAL", 0)
    return {"total": len(records), "by_level": by_level, "errors": errors,
            "error_rate": round(errors / len(records), 6) if records else 0.0,
            "by_component": dict(sorted(by_component.items(), key=lambda kv: (-kv[1], kv[0])))}


def _json(text: str) -> Any:
    return _loads(text)


class HomeFiles:
    """The documented files of one home, each a ``CachedFile``."""

    def __init__(self, home: str | os.PathLike[str]) -> None:
        self.home = Path(home)
        h = self.home
        metrics_lines = LineCache("metrics")
        traces, logs = TracesState(), LogsState()
        self.metrics = CachedFile(h / "metrics" / "metrics_registry.json",
                                  lambda text: dict(metrics_lines.load(text) or {}), dict)
        self.logs = CachedFile(h / "logs" / "logs.json", logs.load, lambda: logs)
        self.traces = CachedFile(h / "traces" / "traces.json", traces.load, lambda: traces)
        self.health_status = CachedFile(h / "health" / "health_status.json", _json, dict)
        self.health_history = CachedFile(h / "health" / "health_history.json", _json, dict)
        self.alert_rules = CachedFile(h / "alerts" / "rules.json", _json, dict)
        self.incidents = CachedFile(h / "alerts" / "incidents.json", _json, dict)
        self.audit_log = CachedFile(h / "alerts" / "audit_log.json", _json, dict)
