"""OTel instrumentors for the data platform: Kafka, Spark and Delta Lake.

Each is an OTel ``BaseInstrumentor`` registered under the
``opentelemetry_instrumentor`` entry point group (``monitoring_kafka``,
``monitoring_spark``, ``monitoring_deltalake``), so ``opentelemetry-instrument``
activates it when its library is installed; ``KafkaInstrumentor().instrument()``
does the same by hand. They record the SPEC's layer metrics through the
metrics collector and spans through the pipeline's tracer provider.

The names below are imported on first use: importing this package loads
neither ``opentelemetry-instrumentation`` nor any platform library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["DeltaLakeInstrumentor", "KafkaInstrumentor", "SparkInstrumentor"]

_MODULES = {"DeltaLakeInstrumentor": "deltalake", "KafkaInstrumentor": "kafka", "SparkInstrumentor": "spark"}

if TYPE_CHECKING:
    from .deltalake import DeltaLakeInstrumentor
    from .kafka import KafkaInstrumentor
    from .spark import SparkInstrumentor


def __getattr__(name: str) -> Any:
    # PEP 562: the instrumentor modules import opentelemetry-instrumentation (the `instrument` extra);
    # a plain `import monitoring_layer.instrumentors` must work without it.
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
