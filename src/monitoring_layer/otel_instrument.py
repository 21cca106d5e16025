"""``opentelemetry-instrument`` support: the distro and the configurator entry points.

``opentelemetry-instrument python app.py`` (from the ``instrument`` extra)
loads, in this order, the ``opentelemetry_distro`` entry point (``MonitoringDistro``),
the ``opentelemetry_configurator`` entry point (``MonitoringConfigurator``),
then every installed instrumentation. The configurator builds the process-wide
pipeline, so the JSON files are written, third-party instrumentation lands in
them, and the facades inside ``app.py`` use the same providers.

The standard ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` /
``OTEL_LOGS_EXPORTER`` lists still work: every exporter they name (``console``,
``otlp``, any installed entry point) is added beside the JSON files;
``monitoring_json`` and ``none`` add nothing (the files are always written).
When another distro is installed too, choose ours with
``OTEL_PYTHON_DISTRO=monitoring_layer`` and ``OTEL_PYTHON_CONFIGURATOR=monitoring_layer``.
"""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from typing import Any


from monitoring_layer._compat import BaseConfigurator as _BaseConfigurator
from monitoring_layer.config import ConfigError
from monitoring_layer.pipeline import get_pipeline

try:
    from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
except ImportError:  # without the instrument extra only the configurator can be used
    BaseDistro = None  # type: ignore[assignment,misc]

__all__ = ["MonitoringConfigurator", "MonitoringDistro", "configure_from_environment"]

_ENV = {"traces": "OTEL_TRACES_EXPORTER", "metrics": "OTEL_METRICS_EXPORTER", "logs": "OTEL_LOGS_EXPORTER"}
_OURS = {"monitoring_json", "none", ""}


def configure_from_environment() -> None:
    """Build the process-wide pipeline and add the exporters the ``OTEL_*_EXPORTER`` variables name."""
    pipeline = get_pipeline()
    if not pipeline.enabled:
        return
    for signal, variable in _ENV.items():
        for name in (n.strip() for n in os.environ.get(variable, "").split(",")):
            if name.lower() in _OURS:
                continue
            if name.startswith("otlp") and pipeline.settings.otlp_enabled(signal):
                continue  # already added from the OTLP endpoint settings
            pipeline.add_exporter(signal, _load_exporter(signal, variable, name, pipeline.settings.otlp_protocol))


def _load_exporter(signal: str, variable: str, name: str, protocol: str) -> Any:
    if name == "otlp":
        name = "otlp_proto_grpc" if protocol == "grpc" else "otlp_proto_http"
    group = f"opentelemetry_{signal}_exporter"
    found = [ep for ep in entry_points(group=group) if ep.name == name]
    if not found:
        hint = " (pip install 'monitoring-layer[otlp]')" if name.startswith("otlp") else ""
        raise ConfigError(f"{variable}={os.environ.get(variable)!r} names {name!r}, but no installed "
                          f"package provides it in the {group!r} entry points{hint}")
    return found[0].load()()


class MonitoringConfigurator(_BaseConfigurator):
    """The ``opentelemetry_configurator`` entry point ``monitoring_layer``."""

    def _configure(self, **kwargs: Any) -> None:
        configure_from_environment()


if BaseDistro is not None:

    class MonitoringDistro(BaseDistro):  # type: ignore[valid-type,misc]
        """The ``opentelemetry_distro`` entry point ``monitoring_layer``.

        Nothing to set before the configurator runs: our settings come from
        the environment and ``configure()``; the instrumentors load as usual.
        """

        def _configure(self, **kwargs: Any) -> None:
            return None

else:  # pragma: no cover - only without the instrument extra
    MonitoringDistro = None  # type: ignore[assignment,misc]
