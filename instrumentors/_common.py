"""What the three instrumentors share: where they record, and how they stay harmless.

* ``Sink``: the metrics collector and the OTel tracer one ``instrument()`` call
  records into. Both are arguments with a lazy default: left ``None``, the
  process-wide metrics collector and the tracing collector's provider (the
  pipeline's) are looked up at the first record, so instrumenting at import
  time neither builds the pipeline nor fixes the settings. The layer's metric
  names are registered on the collector once, when it is resolved.
* ``contained(where)``: a fault of ours inside a wrapper is counted and logged
  once (``_selfmon``), never raised into the host library (except under
  ``MONITORING_STRICT``, which our own tests set).
* ``end_span``: the one way a wrapper ends its span, with OTel's error status
  and ``error.type`` when the wrapped call raised.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode

from monitoring_layer import _selfmon
from monitoring_layer._version import __version__
from monitoring_layer.integration._layers import LAYERS
from monitoring_layer.metrics import get_metrics_collector
from monitoring_layer.tracing import get_tracing_collector

__all__ = ["SCHEMA_URL", "Definitions", "Sink", "contained", "end_span", "fault"]

#: The semantic conventions version whose attribute names the spans use.
SCHEMA_URL = "https://opentelemetry.io/schemas/1.30.0"

#: name -> (type, description, unit), as ``LAYERS`` holds them.
Definitions = Mapping[str, "tuple[str, str, str]"]

_METRICS_METHODS = ("register_metric", "increment_counter", "set_gauge", "observe_histogram")


def fault(exc: BaseException, where: str) -> None:
    """Count and log once a fault of an instrumentor (raises under ``MONITORING_STRICT``)."""
    _selfmon.fault("instrumentation", exc, key=where)


@contextmanager
def contained(where: str) -> Iterator[None]:
    """Run a block of our own inside a wrapper: its exception becomes a counted fault."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the host library must never see our faults
        fault(exc, where)


def end_span(span: Span, exc: BaseException | None) -> None:
    """End ``span``; when the wrapped call raised, mark it as an error of that type first."""
    if exc is not None:
        span.set_attribute("error.type", type(exc).__qualname__)
        if isinstance(exc, Exception):
            span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:256]))
    span.end()


class Sink:
    """The collector and tracer of one instrumentation, resolved on first use.

    ``active`` is cleared by ``uninstrument()``: wrapped objects that outlive
    the instrumentation (a producer built while instrumented) then pass
    every call straight through.
    """

    def __init__(self, layer: str, scope: str, metrics_collector: Any = None, tracer_provider: Any = None,
                 extra: Definitions | None = None) -> None:
        if metrics_collector is not None:
            missing = [m for m in _METRICS_METHODS if not callable(getattr(metrics_collector, m, None))]
            if missing:
                raise TypeError(f"metrics_collector must be a metrics collector (get_metrics_collector()); "
                                f"{type(metrics_collector).__name__} has no {', '.join(missing)}()")
        if tracer_provider is not None and not callable(getattr(tracer_provider, "get_tracer", None)):
            raise TypeError(f"tracer_provider must be an OTel TracerProvider, got {type(tracer_provider).__name__}")
        self.active = True
        self._scope = scope
        self._given_metrics = metrics_collector
        self._given_provider = tracer_provider
        self._definitions: dict[str, tuple[str, str, str]] = {**LAYERS[layer], **(extra or {})}
        self._lock = threading.Lock()
        self._metrics: Any = None
        self._tracer: Any = None

    def metrics(self) -> Any:
        """The metrics collector, with this layer's metrics registered on it."""
        collector = self._metrics
        if collector is None:
            with self._lock:
                if self._metrics is None:
                    found = self._given_metrics
                    if found is None:
                        found = get_metrics_collector()
                    for name, (kind, description, unit) in self._definitions.items():
                        found.register_metric(name, kind, description=description, unit=unit)
                    self._metrics = found
                collector = self._metrics
        return collector

    def tracer(self) -> Any:
        """An OTel tracer named after the instrumentor's module, on the given or the pipeline's provider."""
        tracer = self._tracer
        if tracer is None:
            with self._lock:
                if self._tracer is None:
                    provider = self._given_provider
                    if provider is None:
                        provider = get_tracing_collector().tracer_provider
                    self._tracer = provider.get_tracer(self._scope, __version__, schema_url=SCHEMA_URL)
                tracer = self._tracer
        return tracer
