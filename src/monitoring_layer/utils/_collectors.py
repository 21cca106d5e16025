"""Collector arguments: validation at decoration time, lazy defaults, one registration per family.

A collector argument left ``None`` means the process-wide one, looked up at
call time through ``monitoring_layer.metrics.get_metrics_collector`` (or
``logging.get_log_aggregator`` / ``tracing.get_tracing_collector``): decorating a function at
import time neither starts the pipeline nor fixes the settings.

Any object with the spec's methods is accepted (duck typing): the real
facades, or a test's recorder.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from monitoring_layer import _selfmon, logging, metrics, tracing

from ._names import FAMILIES

__all__ = ["check_collector", "check_text", "default", "ensure_registered", "fault"]

_REQUIRED = {
    "metrics": ("register_metric", "increment_counter", "observe_histogram"),
    "logs": ("info", "error", "warning"),
    "traces": ("start_span", "end_span"),
}
_GETTERS = {
    "metrics": "get_metrics_collector",
    "logs": "get_log_aggregator",
    "traces": "get_tracing_collector",
}

_FACADES = {"metrics": metrics, "logs": logging, "traces": tracing}


def default(kind: str) -> Any:
    """The process-wide collector of ``kind`` ("metrics", "logs", "traces"), looked up at call time."""
    return getattr(_FACADES[kind], _GETTERS[kind])()


def check_collector(value: Any, argument: str, kind: str) -> Any:
    """``value`` when it has the methods of a ``kind`` collector (or is None), else ``TypeError``."""
    if value is None:
        return None
    missing = [m for m in _REQUIRED[kind] if not callable(getattr(value, m, None))]
    if missing:
        raise TypeError(f"{argument} must be a {kind} collector (get_{_GETTERS[kind][4:]}()); "
                        f"{type(value).__name__} has no {', '.join(missing)}()")
    return value


def check_text(value: Any, argument: str) -> str:
    """A non-empty string argument (component, operation, ...), stripped."""
    if callable(value) and argument == "component":
        raise TypeError("component must be a str: these decorators take arguments, "
                        "e.g. @TrackExecution(component=\"api\"), not a bare @TrackExecution")
    if not isinstance(value, str):
        raise TypeError(f"{argument} must be a str, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{argument} must not be empty")
    return value.strip()


# collector -> names registered on it by this library (weakly held: a test's
# collector goes away with its registrations).
_registered: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
_registered_strong: dict[int, tuple[Any, set[str]]] = {}  # collectors that refuse weak references
_lock = threading.RLock()
# families -> the last collector they were all registered on: the lock-free fast path of
# context managers and retries, which look their collector up on every use.
_complete: dict[tuple[str, ...], Any] = {}


def ensure_registered(collector: Any, names: tuple[str, ...],
                      definitions: dict[str, tuple[str, str, str]] = FAMILIES) -> list[str]:
    """Register on ``collector`` those of ``names`` this library has not registered there yet.

    Returns the names registered now. Exceptions of ``register_metric`` propagate
    (callers on a hot path contain them); a name whose registration failed is
    tried again next time.
    """
    if _complete.get(names) is collector:
        return []
    with _lock:
        try:
            done = _registered.setdefault(collector, set())
        except TypeError:  # not weak-referenceable or not hashable
            done = _registered_strong.setdefault(id(collector), (collector, set()))[1]
        new = []
        for name in names:
            if name in done:
                continue
            metric_type, description, unit = definitions[name]
            collector.register_metric(name, metric_type, description=description, unit=unit)
            done.add(name)
            new.append(name)
        _complete[names] = collector
        return new


def fault(exc: BaseException, where: str) -> None:
    """Contain a fault of the monitoring around a user's function (raises when strict)."""
    _selfmon.fault("instrumentation", exc, key=where)
