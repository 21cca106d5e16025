"""The one place that builds and owns the OTel providers, processors, readers and exporters.

``get_pipeline()`` builds the process-wide ``Pipeline`` on first use from the
settings (which are then fixed). It *adopts* SDK providers that are already
installed globally (by ``opentelemetry-instrument`` or the host application)
and only adds our processors and readers to them; otherwise it creates the
providers and installs them globally. Facades take their providers from here.

What a pipeline adds, per signal:

* traces: a ``SpanFileFeed`` into ``JsonFileSpanExporter`` (each ended span filed as it
  ends: the exporter buffers compact records and writes on its own thread, so OTel's
  batch processor in front of it would only add a second buffer; see ``exporters._feed``);
* metrics: a ``PeriodicExportingMetricReader`` into a ``ReadingsExporter`` that
  publishes each collection as ``MetricReading`` s on ``Pipeline.readings``
  (also inside ``flush()``); ``JsonFileMetricExporter`` subscribes to them;
  and a ``PrometheusMetricReader`` on a private prometheus_client registry
  (served on ``/metrics`` by ``monitoring_layer.server`` when ``prometheus_port`` is set), through a
  ``PrometheusBridge`` that adds the metrics facade's summaries;
* logs: a ``LogFileFeed`` into ``JsonFileLogExporter`` (likewise);
* OTLP batch processors/readers beside them when an ``OTEL_EXPORTER_OTLP_*ENDPOINT`` is set;
* the self-metrics ``monitoring_layer_errors_total`` and ``monitoring_layer_dropped_total``.
"""

from __future__ import annotations

import functools
import importlib
import os
import threading
import time
from typing import Any

from opentelemetry import _logs as otel_logs
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from monitoring_layer import _compat, _lifecycle, _selfmon, config, server
from monitoring_layer._scrub import Scrubber
from monitoring_layer.exporters import files_written_after, write_unless_deferred
from monitoring_layer.exporters.prometheus_multiprocess import MultiprocessCollector, ProcessStateWriter
from monitoring_layer.metrics import SelfMetrics
from monitoring_layer._process_wide import ProcessWide
from monitoring_layer._readings_export import ReadingsExporter
from monitoring_layer._sdk_drops import count_drops
from monitoring_layer._version import __version__
from monitoring_layer.config import ConfigError, Settings
from monitoring_layer.readings import ReadingsHub

__all__ = ["Pipeline", "flush", "get_pipeline", "shutdown"]

_OTLP_MODULES = {
    "http/protobuf": {
        "traces": ("opentelemetry.exporter.otlp.proto.http.trace_exporter", "OTLPSpanExporter", "/v1/traces"),
        "metrics": ("opentelemetry.exporter.otlp.proto.http.metric_exporter", "OTLPMetricExporter", "/v1/metrics"),
        "logs": ("opentelemetry.exporter.otlp.proto.http._log_exporter", "OTLPLogExporter", "/v1/logs"),
    },
    "grpc": {
        "traces": ("opentelemetry.exporter.otlp.proto.grpc.trace_exporter", "OTLPSpanExporter", ""),
        "metrics": ("opentelemetry.exporter.otlp.proto.grpc.metric_exporter", "OTLPMetricExporter", ""),
        "logs": ("opentelemetry.exporter.otlp.proto.grpc._log_exporter", "OTLPLogExporter", ""),
    },
}


_MAX_BATCH_DELAY_MS = 1000


class Pipeline:
    """OTel providers wired to our exporters, built from one ``Settings``.

    Pass providers to add our processors and readers to them (they stay the
    caller's: ``shutdown()`` stops only what we added). ``install_global=True``
    (what ``get_pipeline()`` does) adopts the global SDK providers when there
    are some, and installs the ones it creates otherwise.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        logger_provider: LoggerProvider | None = None,
        install_global: bool = False,
    ) -> None:
        _check_propagators()
        self.settings = settings
        self.enabled = not settings.sdk_disabled
        self._lock = threading.Lock()
        self._stopped = False
        self._owned: list[Any] = []        # providers we created: we shut them down
        self._components: list[Any] = []   # processors/readers we added to others' providers
        self.exporters: dict[str, Any] = {}
        self.prometheus_registry: Any = None
        self.prometheus_bridge: Any = None
        self.prometheus_reader: MetricReader | None = None
        self.prometheus_address: tuple[str, int] | None = None
        self._prometheus_server: Any = None
        self._readers: list[MetricReader] = []
        #: signal -> class names of the exporters/readers wired in (for diagnostics)
        self.outputs: dict[str, list[str]] = {"traces": [], "metrics": [], "logs": []}
        #: every collection's ``MetricReading`` s (empty when disabled); subscribe to it
        self.readings = ReadingsHub()
        #: what /metrics serves when it is not prometheus_registry (multiprocess mode: every process merged)
        self.scrape_registry: Any = None
        self.process_state: Any = None
        self.readings_exporter: ReadingsExporter | None = None

        if not self.enabled:  # OTEL_SDK_DISABLED: record nothing, export nothing
            self.resource = Resource.get_empty()
            self.tracer_provider: Any = tracer_provider or otel_trace.NoOpTracerProvider()
            self.meter_provider: Any = meter_provider or otel_metrics.NoOpMeterProvider()
            self.logger_provider: Any = logger_provider or otel_logs.NoOpLoggerProvider()
            return

        # Imported here: importing the exporters package must not build a pipeline.
        from monitoring_layer.exporters import (
            JsonFileLogExporter,
            JsonFileMetricExporter,
            JsonFileSpanExporter,
            LogFileFeed,
            SpanFileFeed,
            prepare_home,
        )

        prepare_home(settings.home, "metrics", "logs", "traces")
        self.resource = _resource(settings)
        interval_ms = settings.export_interval_s * 1000
        # The OTLP batch processors send at least every second (a stopped process loses less).
        batch_delay_ms = min(interval_ms, _MAX_BATCH_DELAY_MS)

        # -- traces
        self.tracer_provider = tracer_provider or (_global_sdk(otel_trace.get_tracer_provider(), TracerProvider)
                                                   if install_global else None)
        if self.tracer_provider is None:
            self.tracer_provider = TracerProvider(resource=self.resource)
            self._owned.append(self.tracer_provider)
            if install_global:
                otel_trace.set_tracer_provider(self.tracer_provider)
        self.exporters["traces"] = JsonFileSpanExporter(
            settings.home, max_traces=settings.traces_max_traces, retention_days=settings.traces_retention_days,
            max_spans_per_trace=settings.traces_max_spans_per_trace, export_interval_s=settings.export_interval_s)
        # Secrets in any span's attributes and events are redacted as it ends, before every exporter.
        _compat.add_span_scrubber(self.tracer_provider, Scrubber(settings.logs_redact_keys).changes)
        span_feed = SpanFileFeed(self.exporters["traces"])
        self.tracer_provider.add_span_processor(span_feed)
        self._components.append(span_feed)
        self.outputs["traces"].append(type(self.exporters["traces"]).__name__)
        for exporter in self._otlp("traces"):
            self.outputs["traces"].append(type(exporter).__name__)
            processor = BatchSpanProcessor(exporter, schedule_delay_millis=batch_delay_ms)
            count_drops(processor, "traces")
            self.tracer_provider.add_span_processor(processor)
            self._components.append(processor)

        # -- logs
        self.logger_provider = logger_provider or (_global_sdk(otel_logs.get_logger_provider(), LoggerProvider)
                                                   if install_global else None)
        if self.logger_provider is None:
            self.logger_provider = LoggerProvider(resource=self.resource)
            self._owned.append(self.logger_provider)
            if install_global:
                otel_logs.set_logger_provider(self.logger_provider)
        self.exporters["logs"] = JsonFileLogExporter(
            settings.home, max_records=settings.logs_max_records, retention_days=settings.logs_retention_days,
            export_interval_s=settings.export_interval_s)
        log_feed = LogFileFeed(self.exporters["logs"])
        self.logger_provider.add_log_record_processor(log_feed)
        self._components.append(log_feed)
        self.outputs["logs"].append(type(self.exporters["logs"]).__name__)
        for exporter in self._otlp("logs"):
            self.outputs["logs"].append(type(exporter).__name__)
            log_processor = BatchLogRecordProcessor(exporter, schedule_delay_millis=batch_delay_ms)
            count_drops(log_processor, "logs")
            self.logger_provider.add_log_record_processor(log_processor)
            self._components.append(log_processor)

        # -- metrics
        self.exporters["metrics"] = JsonFileMetricExporter(
            settings.home, max_points=settings.metrics_max_points, retention_days=settings.metrics_retention_days,
            export_interval_s=settings.export_interval_s)
        readers: list[MetricReader] = []
        # Readings: at every interval and, synchronously, inside flush(). The JSON
        # file is written from them (never from OTel points directly).
        # A reader's flush (the MeterProvider's force_flush) writes the metrics file, as a tracer or logger
        # provider's flush writes theirs. Bound to the exporter, not to this pipeline: a reference back to
        # the pipeline would keep a shut-down one (and its server's routes) alive until a collection.
        self.readings_exporter = ReadingsExporter(
            self.readings, on_flush=functools.partial(write_unless_deferred, self.exporters["metrics"]))
        readers.append(PeriodicExportingMetricReader(self.readings_exporter, export_interval_millis=interval_ms))
        json_metrics, hub = self.exporters["metrics"], self.readings
        hub.subscribe(lambda readings: json_metrics.consume(readings, hub.catalog()))
        self.outputs["metrics"].append(type(self.exporters["metrics"]).__name__)
        for exporter in self._otlp("metrics"):
            self.outputs["metrics"].append(type(exporter).__name__)
            readers.append(PeriodicExportingMetricReader(exporter, export_interval_millis=interval_ms))
        readers.append(self._prometheus_reader())
        self.outputs["metrics"].append("PrometheusMetricReader")
        self._readers = readers
        self.meter_provider = meter_provider or (_global_sdk(otel_metrics.get_meter_provider(), MeterProvider)
                                                 if install_global else None)
        if self.meter_provider is None:
            self.meter_provider = MeterProvider(resource=self.resource, metric_readers=readers,
                                                views=_bounded_http_views())
            self._owned.append(self.meter_provider)
            if install_global:
                otel_metrics.set_meter_provider(self.meter_provider)
        else:
            for reader in readers:
                self.meter_provider.add_metric_reader(reader)
                self._components.append(reader)
        self._self_metrics()
        self._multiprocess()
        self._serve_prometheus()

    # -- building blocks ---------------------------------------------------------

    def _otlp(self, signal: str) -> list[Any]:
        settings = self.settings
        if not settings.otlp_enabled(signal):
            return []
        module_name, class_name, path = _OTLP_MODULES[settings.otlp_protocol][signal]
        try:
            exporter_class = getattr(importlib.import_module(module_name), class_name)
        except ImportError:
            extra = ("pip install 'monitoring-layer[otlp]'" if settings.otlp_protocol == "http/protobuf"
                     else "pip install opentelemetry-exporter-otlp-proto-grpc")
            raise ConfigError(
                f"OTLP export of {signal} is configured (OTEL_EXPORTER_OTLP_ENDPOINT or "
                f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT) but {module_name} is not installed: {extra}"
            ) from None
        if settings.otlp_signal_endpoints.get(signal):
            return [exporter_class()]  # the exporter reads its signal-specific variable itself
        return [exporter_class(endpoint=settings.otlp_endpoint.rstrip("/") + path)]  # type: ignore[union-attr]

    def _prometheus_reader(self) -> MetricReader:
        from monitoring_layer.metrics import PrometheusBridge, PullPrometheusReader

        # Private registries: never clash with the host's prometheus_client
        # metrics. The bridge's public registry shows OTel's families plus the
        # summaries that the metrics facade supplies (OTel has none).
        self.prometheus_bridge = PrometheusBridge(cardinality_limit=self.settings.metrics_cardinality_limit)
        if self.settings.prometheus_runtime_metrics:
            # What a prometheus_client user's /metrics always had: CPU, memory, file descriptors, GC.
            ProcessCollector(registry=self.prometheus_bridge.registry)
            PlatformCollector(registry=self.prometheus_bridge.registry)
            GCCollector(registry=self.prometheus_bridge.registry)
        self.prometheus_registry = self.prometheus_bridge.registry
        self.prometheus_reader = PullPrometheusReader(registry=self.prometheus_bridge.otel_registry)
        return self.prometheus_reader

    def _multiprocess(self) -> None:
        """Multiprocess mode: write this process's families at every collection; scrape them all merged."""
        if not self.settings.prometheus_multiprocess:
            return
        writer = ProcessStateWriter(self.settings.home, self.prometheus_registry)
        self.process_state = writer
        def write_state(_readings: object) -> None:
            writer.write()

        self.readings.subscribe(write_state)
        self.scrape_registry = CollectorRegistry(auto_describe=False)
        self.scrape_registry.register(MultiprocessCollector(self.settings.home))  # type: ignore[arg-type]

    def _serve_prometheus(self) -> None:
        port = self.settings.prometheus_port
        if port is None:
            return
        host = self.settings.prometheus_host
        try:
            handle = server.start(self, host, port)
        except OSError as exc:
            _selfmon.fault("prometheus_server", f"cannot serve /metrics on {host}:{port}: {exc}",
                           key=f"{host}:{port}")
            return
        self._prometheus_server = handle
        self.prometheus_address = (host, handle.port)

    def _self_metrics(self) -> None:
        meter = self.meter_provider.get_meter("monitoring_layer", __version__)
        # Every reader gets them from OTel; the Prometheus bridge renders them itself at a scrape.
        self.prometheus_bridge.add_source(SelfMetrics(meter, "monitoring_layer", __version__))

    def add_exporter(self, signal: str, exporter: Any) -> None:
        """Add another exporter beside ours: a span exporter (``"traces"``), a log record
        exporter (``"logs"``), or a metric exporter or reader (``"metrics"``)."""
        if not self.enabled:
            return
        interval_ms = self.settings.export_interval_s * 1000
        if signal == "traces":
            component: Any = BatchSpanProcessor(exporter, schedule_delay_millis=interval_ms)
            count_drops(component, "traces")
            self.tracer_provider.add_span_processor(component)
        elif signal == "logs":
            component = BatchLogRecordProcessor(exporter, schedule_delay_millis=interval_ms)
            count_drops(component, "logs")
            self.logger_provider.add_log_record_processor(component)
        elif signal == "metrics":
            component = exporter if isinstance(exporter, MetricReader) else PeriodicExportingMetricReader(
                exporter, export_interval_millis=interval_ms)
            self.meter_provider.add_metric_reader(component)
            self._readers.append(component)
        else:
            raise ValueError(f"signal must be 'traces', 'metrics' or 'logs', not {signal!r}")
        self._components.append(component)
        self.outputs[signal].append(type(exporter).__name__)

    # -- lifecycle ------------------------------------------------------------------

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Export everything recorded so far and write the JSON files now."""
        if not self.enabled or self._stopped:
            return True
        with _lifecycle.flushing():  # a SIGTERM arriving meanwhile waits for this flush
            return self._flush(timeout_s)

    def _flush(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        ok = True
        with files_written_after():  # the providers' and readers' flushes leave the files to the loop below
            for provider in (self.tracer_provider, self.logger_provider):
                ok = bool(provider.force_flush(_remaining_ms(deadline))) and ok
            # Readers one by one: a slow OTLP collector must not keep our files unwritten.
            for reader in self._readers:
                with _selfmon.contained("flush", key="metric reader"):
                    ok = bool(reader.force_flush(_remaining_ms(deadline))) is not False and ok
        for exporter in self.exporters.values():
            ok = exporter.write_now(_remaining_ms(deadline) / 1000) and ok
        return ok

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Flush, then stop what this pipeline built or added. Safe to call twice."""
        with self._lock:
            if self._stopped:
                return
            if not self.enabled:
                self._stopped = True
                return
            self.flush(timeout_s)
            self._stopped = True
        if self._prometheus_server is not None:
            self._prometheus_server.close()
        for component in self._components:
            with _selfmon.contained("shutdown", key=type(component).__name__):
                if isinstance(component, MetricReader):
                    # remove_metric_reader() shuts the reader down itself, and
                    # PrometheusMetricReader.shutdown() is not safe twice.
                    self.meter_provider.remove_metric_reader(component)
                else:
                    component.shutdown()
        for provider in self._owned:
            with _selfmon.contained("shutdown", key=type(provider).__name__):
                provider.shutdown()
        # The metrics file is fed by readings, not by a reader of its own: stop it
        # after the readers' last collection reached it.
        with _selfmon.contained("shutdown", key="metrics file"):
            self.exporters["metrics"].shutdown()

    @property
    def stopped(self) -> bool:
        return self._stopped


#: The attributes OTel's HTTP semantic conventions (old and stable) give HTTP client/server metrics,
#: without the URL and target: one series per URL would be unbounded (a View keeps the rest).
_HTTP_METRIC_ATTRIBUTES = {
    "http.method", "http.status_code", "http.scheme", "http.flavor", "http.host", "http.server_name",
    "net.peer.name", "net.peer.port", "net.host.name", "net.host.port",
    "http.request.method", "http.response.status_code", "http.route", "url.scheme", "server.address",
    "server.port", "network.protocol.name", "network.protocol.version", "error.type",
}


def _bounded_http_views() -> list[View]:
    """Views keeping HTTP metrics' low-cardinality attributes (providers we create only)."""
    return [View(instrument_name=pattern, attribute_keys=set(_HTTP_METRIC_ATTRIBUTES))
            for pattern in ("http.client.*", "http.server.*")]


def _remaining_ms(deadline: float) -> int:
    return max(1, int((deadline - time.monotonic()) * 1000))


def _global_sdk(provider: Any, sdk_class: type) -> Any:
    """The global provider when it is an SDK one we can add to; None when unset."""
    if isinstance(provider, sdk_class):
        return provider
    if type(provider).__name__.startswith(("Proxy", "_Proxy", "NoOp", "_NoOp")):
        return None
    # Someone installed a provider we cannot extend: keep ours private.
    _selfmon.fault("setup", f"global {type(provider).__name__} is not an OTel SDK provider; "
                   "monitoring-layer keeps its own providers beside it", key=type(provider).__name__,
                   strict=False)
    return None


def _check_propagators() -> None:
    """Refuse a wrong ``OTEL_PROPAGATORS`` at setup, not at the first ``inject()``/``extract()``.

    ``inject``/``extract`` import OTel's propagators on first use (that import reads every installed
    package's entry points: not a cost every process should carry). OTel's defaults ship with the
    API, so only a named choice can fail; then it is loaded here, where a misspelled or missing
    propagator raises ``ConfigError`` naming the variable instead of failing a producer's first send.
    """
    chosen = os.environ.get("OTEL_PROPAGATORS", "").strip()
    if not chosen:
        return
    try:
        importlib.import_module("opentelemetry.propagate")
    except Exception as exc:  # noqa: BLE001 - OTel raises ValueError for an unknown name, or the entry point's error
        raise ConfigError(f"OTEL_PROPAGATORS={chosen!r}: {exc}") from None


def _resource(settings: Settings) -> Resource:
    attributes: dict[str, Any] = {
        "telemetry.distro.name": "monitoring-layer",
        "telemetry.distro.version": __version__,
        **settings.resource_attributes,
    }
    if settings.service_name:
        attributes["service.name"] = settings.service_name
    return Resource.create(attributes)


# --------------------------------------------------------------------------- process-wide

def _build_process_pipeline() -> Pipeline:
    settings = config._freeze("get_pipeline() was called")  # noqa: SLF001
    pipeline = Pipeline(settings, install_global=True)
    # At exit, on SIGTERM and at the end of multiprocessing workers (which skip atexit).
    _lifecycle.install_exit_flush(_flush_at_exit)
    return pipeline


_PIPELINE: ProcessWide[Pipeline] = ProcessWide(_build_process_pipeline)


def get_pipeline() -> Pipeline:
    """The process-wide pipeline, built on first use (settings are fixed from then on)."""
    return _PIPELINE.get()


def flush(timeout_s: float = 10.0) -> bool:
    """Make every exporter write now. True when everything was exported in time.

    First the components' lifecycle ``before_flush`` hooks record what they hold back
    (the Spark instrumentor's unsettled jobs); after the export (and the readings it
    publishes), their ``flush`` hooks run (the engines' files, queued notifications).
    Does not start the pipeline: with nothing recorded there is nothing to write.
    """
    with _lifecycle.flushing():  # a SIGTERM arriving meanwhile waits for this flush
        _lifecycle.run_before_flush()
        pipeline = _PIPELINE.peek()
        ok = True if pipeline is None else pipeline.flush(timeout_s)
        _lifecycle.run_flush()
    return ok


def shutdown(timeout_s: float = 10.0) -> None:
    """Stop the registered components (newest first), then flush and stop the process-wide
    pipeline. Safe to call twice."""
    with _lifecycle.flushing():
        _lifecycle.run_shutdown()
        pipeline = _PIPELINE.peek()
        if pipeline is not None:
            pipeline.shutdown(timeout_s)


def _flush_at_exit() -> None:
    with _selfmon.contained("shutdown", key="atexit"):
        flush(5.0)
