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
``monitoring_json`` and ``none`` add nothing (the files are always written), and
``prometheus`` in ``OTEL_METRICS_EXPORTER`` means our own ``/metrics`` endpoint (on
``OTEL_EXPORTER_PROMETHEUS_PORT``, default 9464, as OTel's exporter). An exporter
that cannot be loaded (a missing extra) is one clear line on stderr and a
counted ``setup`` fault; the application still runs, with the files.
``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true`` bridges stdlib logging
(the root logger) into the log aggregator, as OTel's own configurator does.
When another distro is installed too, choose ours with
``OTEL_PYTHON_DISTRO=monitoring_layer`` and ``OTEL_PYTHON_CONFIGURATOR=monitoring_layer``.
"""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from typing import Any


from monitoring_layer import _selfmon
from monitoring_layer._compat import BaseConfigurator as _BaseConfigurator
from monitoring_layer.config import ConfigError
from monitoring_layer.logging import get_log_aggregator
from monitoring_layer.pipeline import get_pipeline

try:
    from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
except ImportError:  # without the instrument extra only the configurator can be used
    BaseDistro = None  # type: ignore[assignment,misc]

__all__ = ["MonitoringConfigurator", "MonitoringDistro", "configure_from_environment"]

_ENV = {"traces": "OTEL_TRACES_EXPORTER", "metrics": "OTEL_METRICS_EXPORTER", "logs": "OTEL_LOGS_EXPORTER"}
_OURS = {"monitoring_json", "none", ""}
#: Names that mean one of our own outputs, per signal (``prometheus``: our /metrics endpoint).
_OURS_BY_SIGNAL = {"metrics": {"prometheus"}}
_LOGGING_AUTO = "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED"


def configure_from_environment() -> None:
    """Build the process-wide pipeline and add the exporters the ``OTEL_*_EXPORTER`` variables name.

    An exporter that cannot be loaded is reported (one line, a ``setup`` fault) and left out.
    """
    pipeline = get_pipeline()
    if not pipeline.enabled:
        return
    for signal, variable in _ENV.items():
        for name in (n.strip() for n in os.environ.get(variable, "").split(",")):
            if name.lower() in _OURS or name.lower() in _OURS_BY_SIGNAL.get(signal, ()):
                continue
            if name.startswith("otlp") and pipeline.settings.otlp_enabled(signal):
                continue  # already added from the OTLP endpoint settings
            try:
                exporter = _load_exporter(signal, variable, name, pipeline.settings.otlp_protocol)
            except ConfigError as exc:
                _selfmon.fault("setup", f"{exc}; the JSON files are written without it", key=variable,
                               strict=False)
                continue
            pipeline.add_exporter(signal, exporter)
    if os.environ.get(_LOGGING_AUTO, "").strip().lower() == "true":
        get_log_aggregator().capture_logging(level="DEBUG")


def _load_exporter(signal: str, variable: str, name: str, protocol: str) -> Any:
    if name == "otlp":
        name = "otlp_proto_grpc" if protocol == "grpc" else "otlp_proto_http"
    group = f"opentelemetry_{signal}_exporter"
    found = [ep for ep in entry_points(group=group) if ep.name == name]
    hint = ""
    if name == "otlp_proto_grpc":
        hint = " (install it: pip install opentelemetry-exporter-otlp-proto-grpc)"
    elif name.startswith("otlp"):
        hint = " (install it: pip install 'monitoring-layer[otlp]')"
    if not found:
        raise ConfigError(f"{variable}={os.environ.get(variable)!r} names {name!r}, but no installed "
                          f"package provides it in the {group!r} entry points{hint}")
    try:
        return found[0].load()()
    except Exception as exc:  # noqa: BLE001 - a half-installed exporter package, a bad entry point
        raise ConfigError(f"{variable}={os.environ.get(variable)!r}: the exporter {name!r} could not be "
                          f"loaded ({type(exc).__name__}: {exc}){hint}") from None


class MonitoringConfigurator(_BaseConfigurator):
    """The ``opentelemetry_configurator`` entry point ``monitoring_layer``."""

    def _configure(self, **kwargs: Any) -> None:
        try:
            configure_from_environment()
        except ConfigError as exc:
            # One clear line instead of opentelemetry-instrument's traceback; the application
            # still runs, and its first get_*() call raises the same error where it can be fixed.
            _selfmon.logger.error("monitoring-layer is not configured: %s", exc)


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
