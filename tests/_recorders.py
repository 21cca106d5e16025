"""Small recording fakes of the three collectors' spec methods, for unit tests of our own logic."""

from __future__ import annotations

import itertools
import threading
from typing import Any


class FakeMetrics:
    """Records register_metric / increment_counter / set_gauge / observe_histogram calls."""

    TYPES = ("counter", "gauge", "histogram", "summary")

    def __init__(self) -> None:
        self.registered: dict[str, tuple[str, str, str]] = {}
        self.registrations: list[str] = []
        self.records: list[tuple[str, str, float, dict[str, str]]] = []
        self._lock = threading.Lock()

    def register_metric(self, name: str, metric_type: str, description: str = "", unit: str = "") -> None:
        assert metric_type in self.TYPES, metric_type
        self.registered[name] = (metric_type, description, unit)
        self.registrations.append(name)

    def _record(self, kind: str, name: str, value: float, labels: Any) -> None:
        assert name in self.registered, f"{name} recorded before being registered"
        assert self.registered[name][0] == kind, (name, kind)
        with self._lock:
            self.records.append((kind, name, value, dict(labels or {})))

    def increment_counter(self, name: str, value: float = 1, labels: Any = None) -> None:
        self._record("counter", name, value, labels)

    def set_gauge(self, name: str, value: float, labels: Any = None) -> None:
        self._record("gauge", name, value, labels)

    def observe_histogram(self, name: str, value: float, labels: Any = None) -> None:
        self._record("histogram", name, value, labels)

    def values(self, name: str, **labels: str) -> list[float]:
        return [v for _, n, v, lab in self.records if n == name and all(lab.get(k) == x for k, x in labels.items())]

    def total(self, name: str, **labels: str) -> float:
        return sum(self.values(name, **labels))

    def label_sets(self, name: str) -> list[dict[str, str]]:
        return [lab for _, n, _, lab in self.records if n == name]


class FakeLogs:
    """Records debug/info/warning/error/critical(component, message, **fields)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def _log(self, level: str, component: str, message: str, **fields: Any) -> None:
        self.records.append({"level": level, "component": component, "message": message, **fields})

    def debug(self, component: str, message: str, **fields: Any) -> None:
        self._log("DEBUG", component, message, **fields)

    def info(self, component: str, message: str, **fields: Any) -> None:
        self._log("INFO", component, message, **fields)

    def warning(self, component: str, message: str, **fields: Any) -> None:
        self._log("WARNING", component, message, **fields)

    def error(self, component: str, message: str, **fields: Any) -> None:
        self._log("ERROR", component, message, **fields)

    def critical(self, component: str, message: str, **fields: Any) -> None:
        self._log("CRITICAL", component, message, **fields)

    def messages(self) -> list[str]:
        return [r["message"] for r in self.records]


class FakeTraces:
    """start_span/end_span with a current-span stack (the parent of a new span is the current one)."""

    def __init__(self) -> None:
        self.spans: dict[str, dict[str, Any]] = {}
        self.stack: list[str] = []
        self._ids = itertools.count(1)

    def start_trace(self, service: str, request_id: str | None = None, **attributes: Any) -> str:
        return f"trace{next(self._ids)}"

    def start_span(self, operation_name: str, component: str, parent_span_id: str | None = None,
                   trace_id: str | None = None, tags: Any = None) -> str:
        span_id = f"span{next(self._ids)}"
        parent = parent_span_id or (self.stack[-1] if self.stack else None)
        self.spans[span_id] = {"name": operation_name, "component": component, "parent": parent,
                               "tags": dict(tags or {}), "status": None, "error": None, "events": []}
        self.stack.append(span_id)
        return span_id

    def add_event(self, span_id: str, name: str, attributes: Any = None) -> None:
        self.spans[span_id]["events"].append(name)

    def add_tag(self, span_id: str, key: str, value: Any) -> None:
        self.spans[span_id]["tags"][key] = value

    def end_span(self, span_id: str, status: str = "SUCCESS", error: Any = None) -> None:
        assert self.spans[span_id]["status"] is None, "ended twice"
        self.spans[span_id].update(status=status, error=error)
        if span_id in self.stack:
            self.stack.remove(span_id)

    def end_trace(self, trace_id: str) -> None:
        pass

    def by_name(self, name: str) -> list[dict[str, Any]]:
        return [s for s in self.spans.values() if s["name"] == name]


class Exploding:
    """A collector whose every method raises (a fault inside the monitoring)."""

    def __getattr__(self, name: str) -> Any:
        def explode(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError(f"collector broke in {name}")

        return explode
