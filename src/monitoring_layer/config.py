"""Settings: one table, resolved once, defaults < environment < ``configure()``.

Every option is declared once in ``OPTIONS`` with its keyword (for
``monitoring_layer.configure``), its environment variable, its default and its
meaning. The README's settings table is generated from ``OPTIONS``
(``settings_table_markdown``) and a test keeps the two equal.

A bad value raises ``ConfigError`` (a ``ValueError``) naming the variable or
argument and the value, at setup time, never later on a hot path.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from monitoring_layer.errors import ConfigError

__all__ = [
    "ConfigError",
    "OPTIONS",
    "Settings",
    "configure",
    "get_settings",
    "resolve_setting",
    "resolve_settings",
    "settings_table_markdown",
]


# --------------------------------------------------------------------------- parsers
# Each parser takes the raw value (a string from the environment, or any
# Python value from configure()) and returns the normalised value or raises
# ValueError/TypeError with a short reason; _resolve() wraps that reason in a
# ConfigError that names the source.


def _positive_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a number, got a bool")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError("must be a finite number > 0")
    return number


#: The largest count a cap or a limit may be set to: far beyond any memory, and small enough for
#: every container and C-level limit it sizes (a deque's maxlen overflows at 2**63).
MAX_COUNT = 2**31 - 1
#: Bounds of the export interval: OTel's reader gives a collection the interval as its timeout
#: (shorter ones time out and log tracebacks), and a wait past threading.TIMEOUT_MAX (~9.2e9 s) overflows.
MIN_INTERVAL_S, MAX_INTERVAL_S = 0.05, 365 * 86_400.0


def _positive_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("expected an integer, got a bool")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        value = int(value)
    number = int(str(value).strip()) if isinstance(value, str) else int(value)
    if number <= 0 or number > MAX_COUNT:
        raise ValueError(f"must be an integer from 1 to {MAX_COUNT:,}")
    return number


def _interval_s(value: Any) -> float:
    number = _positive_float(value)
    if not MIN_INTERVAL_S <= number <= MAX_INTERVAL_S:
        raise ValueError(f"must be from {MIN_INTERVAL_S} s to {MAX_INTERVAL_S:,.0f} s (365 days)")
    return number


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("must be one of true/false, 1/0, yes/no, on/off")


def _path(value: Any) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"expected a path, got {type(value).__name__}")
    text = os.fspath(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return Path(text).expanduser().absolute()


def _optional_text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value.strip() or None


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


def _port(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise TypeError("expected a port number, got a bool")
    port = int(str(value).strip()) if isinstance(value, str) else int(value)
    if not 0 <= port <= 65535:
        raise ValueError("must be a TCP port 0-65535 (0 picks a free one)")
    return port


def _resource_attributes(value: Any) -> dict[str, str]:
    """``key1=value1,key2=value2`` (OTel's format) or a mapping."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if not isinstance(value, str):
        raise TypeError(f"expected 'key=value,...' or a dict, got {type(value).__name__}")
    attributes: dict[str, str] = {}
    for part in value.split(","):
        if not part.strip():
            continue
        key, sep, val = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{part.strip()!r} is not key=value")
        attributes[key.strip()] = val.strip()
    return attributes


def _names(value: Any) -> tuple[str, ...]:
    """``a,b,c`` or a sequence of strings -> lower-case names (empty allowed)."""
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    else:
        raise TypeError(f"expected 'name,name,...' or a list of strings, got {type(value).__name__}")
    names = []
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"expected strings, got {type(item).__name__}")
        if item.strip():
            names.append(item.strip().lower())
    return tuple(names)


def _optional_secret(value: Any) -> str | None:
    """A token, kept exactly as given (it is compared byte for byte); unset or empty: None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    if not value:
        return None
    if not value.strip():
        # Whitespace is no secret: refusing it beats serving the API open by mistake.
        raise ValueError("must not be only whitespace (unset it to turn the token off)")
    return value


_OTLP_PROTOCOLS = ("http/protobuf", "grpc")


def _otlp_protocol(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in _OTLP_PROTOCOLS:
        raise ValueError(f"must be one of {', '.join(_OTLP_PROTOCOLS)}")
    return text


# --------------------------------------------------------------------------- the table


@dataclasses.dataclass(frozen=True)
class Option:
    """One setting: ``configure()`` keyword, environment variable, default, meaning."""

    name: str
    env: str | None
    parse: Callable[[Any], Any]
    default: Any
    doc: str
    default_text: str | None = None  # how the README shows the default
    #: a standard OTel variable read when ``env`` is unset, and how to turn it into ``parse``'s input
    otel_env: tuple[str, Callable[[str], Any]] | None = None


OPTIONS: tuple[Option, ...] = (
    Option("home", "MONITORING_HOME", _path, Path("/tmp/monitoring"),
           "Folder that holds the JSON files (created 0700; refused if another user owns it "
           "or it is group/world-writable).", "`/tmp/monitoring`"),
    Option("export_interval_s", "MONITORING_EXPORT_INTERVAL", _interval_s, 5.0,
           "Seconds between writes of the JSON files (and between metric collections), 0.05 to 31536000 "
           "(365 days). `monitoring_layer.flush()` writes at once. When unset, OTel's `OTEL_METRIC_EXPORT_INTERVAL` "
           "(milliseconds) is used.",
           otel_env=("OTEL_METRIC_EXPORT_INTERVAL", lambda ms: float(ms) / 1000)),
    Option("metrics_retention_days", "MONITORING_METRICS_RETENTION_DAYS", _positive_float, 7.0,
           "Metric points older than this are dropped from `metrics/metrics_registry.json`."),
    Option("metrics_max_points", "MONITORING_METRICS_MAX_POINTS", _positive_int, 10_000,
           "Newest points kept per metric."),
    Option("metrics_cardinality_limit", "MONITORING_METRICS_CARDINALITY_LIMIT", _positive_int, 2_000,
           "Label sets per metric; beyond it measurements go to one overflow series."),
    Option("logs_retention_days", "MONITORING_LOGS_RETENTION_DAYS", _positive_float, 30.0,
           "Log records older than this are dropped from `logs/logs.json`."),
    Option("logs_max_records", "MONITORING_LOGS_MAX_RECORDS", _positive_int, 1_000,
           "Newest log records kept in `logs/logs.json`."),
    Option("logs_memory_max_records", "MONITORING_LOGS_MEMORY_MAX_RECORDS", _positive_int, 10_000,
           "Newest log records the log aggregator keeps in memory for queries (statistics and the "
           "error summary are running totals, not limited by it)."),
    Option("logs_redact_keys", "MONITORING_LOGS_REDACT_KEYS", _names, (),
           "More words whose keys are redacted (whole words) in log records, span attributes and events, "
           "and metric labels, `name,name` (added to password, passwd, "
           "secret, api_key, apikey, authorization, cookie, private_key, session_id, sessionid, "
           "credentials, access_key, and token/session as a key's last word).", "none"),
    Option("traces_retention_days", "MONITORING_TRACES_RETENTION_DAYS", _positive_float, 7.0,
           "Traces that ended longer ago than this are dropped from `traces/traces.json`."),
    Option("traces_max_traces", "MONITORING_TRACES_MAX_TRACES", _positive_int, 10_000,
           "Newest traces kept in `traces/traces.json`."),
    Option("traces_max_spans_per_trace", "MONITORING_TRACES_MAX_SPANS_PER_TRACE", _positive_int, 1_000,
           "Spans kept per trace in `traces/traces.json`; the rest are counted as dropped."),
    Option("traces_max_active_spans", "MONITORING_TRACES_MAX_ACTIVE_SPANS", _positive_int, 10_000,
           "Spans started by the tracing collector and not ended yet; beyond it the oldest are ended "
           "with status `ABANDONED` and counted."),
    Option("traces_encoder_process", "MONITORING_TRACES_ENCODER_PROCESS", _bool, True,
           "A write of `traces/traces.json` with 500 new traces or more has their JSON made by a helper "
           "process (started then, ended with the host), so the encoding does not take the host's GIL. "
           "Off: always encoded in the host.", "on"),
    Option("strict", "MONITORING_STRICT", _bool, False,
           "Raise record-time faults (bad values, export errors) instead of containing them. "
           "For test suites, never for production."),
    Option("service_name", "OTEL_SERVICE_NAME", _optional_text, None,
           "`service.name` of the OTel resource.", "OTel's `unknown_service`"),
    Option("resource_attributes", "OTEL_RESOURCE_ATTRIBUTES", _resource_attributes, {},
           "More resource attributes, `key=value,key=value`.", "none"),
    Option("sdk_disabled", "OTEL_SDK_DISABLED", _bool, False,
           "When true nothing is recorded or exported (the facades still answer, empty)."),
    Option("prometheus_host", "OTEL_EXPORTER_PROMETHEUS_HOST", _text, "127.0.0.1",
           "Address the Prometheus scrape endpoint listens on."),
    Option("prometheus_port", "OTEL_EXPORTER_PROMETHEUS_PORT", _port, None,
           "Serve `/metrics` for Prometheus on this port (off when unset; 0 picks a free port). "
           "`prometheus` in `OTEL_METRICS_EXPORTER` turns it on at OTel's default port, 9464.",
           "unset (off)",
           otel_env=("OTEL_METRICS_EXPORTER",
                     lambda names: 9464 if "prometheus" in [n.strip().lower() for n in names.split(",")]
                     else None)),
    Option("prometheus_runtime_metrics", "MONITORING_PROMETHEUS_RUNTIME_METRICS", _bool, True,
           "Add the process and Python runtime series prometheus_client users expect to `/metrics` "
           "(`process_*`, `python_info`, `python_gc_*`); `false` leaves them out.", "true"),
    Option("prometheus_multiprocess", "MONITORING_PROMETHEUS_MULTIPROCESS", _bool, False,
           "For pre-forking servers (gunicorn, uWSGI): every process writes its metric state under "
           "`metrics/processes/`, and `/metrics` serves all processes of the home merged (counters and "
           "histograms summed, gauges per `pid`).", "false"),
    Option("otlp_endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", _optional_text, None,
           "Also send all three signals by OTLP to this collector (needs the `otlp` extra). "
           "The signal-specific `OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT` and the "
           "OTLP exporter's other `OTEL_EXPORTER_OTLP_*` variables are honoured too.",
           "unset (off)"),
    Option("otlp_protocol", "OTEL_EXPORTER_OTLP_PROTOCOL", _otlp_protocol, "http/protobuf",
           "`http/protobuf` or `grpc` (grpc needs `opentelemetry-exporter-otlp-proto-grpc`)."),
    Option("dashboard_token", "MONITORING_DASHBOARD_TOKEN", _optional_secret, None,
           "Bearer token the dashboard's `/api/*` and its actions require (`Authorization: Bearer <token>`, "
           "on `serve()` and `monitoring-layer serve`). Unset: the API is open (bind it to loopback) and "
           "the actions (acknowledge, resolve an alert) are disabled.",
           "unset (API open, actions off)"),
)

_BY_NAME = {option.name: option for option in OPTIONS}

# Signal-specific OTLP endpoints: read with the other OTLP settings, not
# configurable by keyword (the OTLP exporter reads the rest of its variables).
_OTLP_SIGNAL_ENV = {
    "traces": "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "metrics": "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "logs": "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The resolved settings. Build with ``resolve_settings`` or ``get_settings``."""

    home: Path
    export_interval_s: float
    metrics_retention_days: float
    metrics_max_points: int
    metrics_cardinality_limit: int
    logs_retention_days: float
    logs_max_records: int
    logs_memory_max_records: int
    logs_redact_keys: tuple[str, ...]
    traces_retention_days: float
    traces_max_traces: int
    traces_max_spans_per_trace: int
    traces_max_active_spans: int
    traces_encoder_process: bool
    strict: bool
    service_name: str | None
    resource_attributes: Mapping[str, str]
    sdk_disabled: bool
    prometheus_host: str
    prometheus_port: int | None
    prometheus_runtime_metrics: bool
    prometheus_multiprocess: bool
    otlp_endpoint: str | None
    otlp_protocol: str
    otlp_signal_endpoints: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: a secret: left out of ``repr(settings)`` so a logged Settings never shows it
    dashboard_token: str | None = dataclasses.field(default=None, repr=False)

    def otlp_enabled(self, signal: str) -> bool:
        """True when OTLP export of ``signal`` (traces, metrics, logs) was asked for."""
        return bool(self.otlp_endpoint or self.otlp_signal_endpoints.get(signal))

    def path_of(self, relative: str) -> Path:
        """Absolute path of a documented file, e.g. ``path_of("logs/logs.json")``."""
        return self.home / relative


def resolve_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Resolve defaults < ``environ`` < ``overrides`` into ``Settings``.

    >>> resolve_settings({}, {"logs_max_records": 50}).logs_max_records
    50
    """
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(_BY_NAME))
    if unknown:
        raise ConfigError(
            f"unknown setting {unknown[0]!r}; known settings: {', '.join(sorted(_BY_NAME))}"
        )
    values: dict[str, Any] = {}
    for option in OPTIONS:
        if option.name in overrides:
            values[option.name] = _parse(option, overrides[option.name], f"argument {option.name}")
        elif option.env and environ.get(option.env) is not None:
            values[option.name] = _parse(option, environ[option.env], f"environment variable {option.env}")
        elif option.otel_env is not None and environ.get(option.otel_env[0], "").strip():
            var, convert = option.otel_env
            try:
                converted = convert(environ[var])
                values[option.name] = option.default if converted is None else option.parse(converted)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"environment variable {var}={environ[var]!r} is invalid: {exc}") from None
        else:
            values[option.name] = option.default
    values["otlp_signal_endpoints"] = {
        signal: environ[var].strip()
        for signal, var in _OTLP_SIGNAL_ENV.items()
        if environ.get(var, "").strip()
    }
    return Settings(**values)


def resolve_setting(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """One setting from its default and ``environ`` only, leaving the others unparsed.

    For commands that use one or two settings: a bad value of an unrelated
    variable (``MONITORING_EXPORT_INTERVAL=abc``) must not stop them.

    >>> resolve_setting("logs_max_records", {"MONITORING_EXPORT_INTERVAL": "abc"})
    1000
    """
    option = _BY_NAME.get(name)
    if option is None:
        raise ConfigError(f"unknown setting {name!r}; known settings: {', '.join(sorted(_BY_NAME))}")
    environ = os.environ if environ is None else environ
    if option.env and environ.get(option.env) is not None:
        return _parse(option, environ[option.env], f"environment variable {option.env}")
    return option.default


def _parse(option: Option, raw: Any, source: str) -> Any:
    try:
        return option.parse(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}={raw!r} is invalid: {exc}") from None


# --------------------------------------------------------------------------- process-wide

_lock = threading.RLock()
_overrides: dict[str, Any] = {}
_settings: Settings | None = None
_frozen_by: str | None = None  # set once the pipeline started on these settings


def get_settings() -> Settings:
    """The process-wide settings, resolved on first use and then fixed."""
    global _settings
    settings = _settings
    if settings is None:
        with _lock:
            if _settings is None:
                _settings = resolve_settings(os.environ, _overrides)
            settings = _settings
    return settings


def configure(**overrides: Any) -> Settings:
    """Override settings by keyword (see ``OPTIONS``); returns the resolved settings.

    Idempotent: the same values again change nothing. Once the pipeline has
    started, different values raise ``ConfigError`` (the providers, files and
    ports are already in use); call it before the first ``get_*()``.

    >>> import monitoring_layer
    >>> monitoring_layer.configure(home="/tmp/my-monitoring")  # doctest: +SKIP
    """
    global _settings
    with _lock:
        merged = {**_overrides, **overrides}
        candidate = resolve_settings(os.environ, merged)
        if _frozen_by is not None and _settings is not None and candidate != _settings:
            changed = sorted(
                f.name for f in dataclasses.fields(Settings)
                if getattr(candidate, f.name) != getattr(_settings, f.name)
            )
            raise ConfigError(
                f"cannot change {', '.join(changed)}: the monitoring pipeline already started "
                f"({_frozen_by}); call monitoring_layer.configure() before the first get_*() "
                "or flush()"
            )
        _overrides.clear()
        _overrides.update(merged)
        _settings = candidate
        return candidate


def _freeze(reason: str) -> Settings:
    """Called by the pipeline when it starts: settings cannot change after this."""
    global _frozen_by
    with _lock:
        settings = get_settings()
        _frozen_by = _frozen_by or reason
        return settings


def _reset_for_tests() -> None:
    """Forget overrides and the resolved settings (tests only)."""
    global _settings, _frozen_by
    with _lock:
        _overrides.clear()
        _settings = None
        _frozen_by = None


# --------------------------------------------------------------------------- docs


def settings_table_markdown() -> str:
    """The README's settings table, generated from ``OPTIONS``."""
    lines = [
        "| Environment variable | `configure()` keyword | Default | Meaning |",
        "|---|---|---|---|",
    ]
    for option in OPTIONS:
        default = option.default_text or f"`{option.default}`"
        lines.append(f"| `{option.env}` | `{option.name}` | {default} | {option.doc} |")
    return "\n".join(lines)
