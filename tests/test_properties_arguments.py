"""Property: public calls given any argument value succeed or raise a documented error naming it (issue 15, item 9).

Each row of ``CASES`` is a public query or record call with valid arguments and
the one argument hypothesis replaces: by ``inf``, ``nan``, ``10**400``, negative
numbers, lists, dicts, ``None``, bytes, lone surrogates, arbitrary objects...
The call may succeed (record calls contain bad values and count them), or raise
``ValueError``/``TypeError``/``KeyError`` (never a ``UnicodeError``, which is a
``ValueError`` too) whose message names the argument. Anything else
(``AttributeError``, ``OverflowError``, ``RecursionError``...) is a bug.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitoring_layer import (
    AlertRule,
    CountCalls,
    LogFunction,
    NotificationChannel,
    ObservabilityDashboard,
    TraceFunction,
    TrackErrors,
    TrackExecution,
    TrackTiming,
    count_operation,
    create_database_check,
    create_kafka_check,
    create_storage_check,
    extract,
    inject,
    make_log_message,
    make_metric_name,
    measure_time,
    retry_with_tracking,
)
from tests._strategies import fresh_ids

_OBJECT = object()
LIVE = "<live>"  # replaced by the env's open span id / firing alert id
HOSTILE = st.one_of(
    st.sampled_from([math.inf, -math.inf, math.nan, 10**400, -(10**400), 2**63, 2**64, -1, 0, -0.0, 1e308, 1e-320,
                     [], [1], ["a", "b"], {}, {"a": 1}, {"a": [1]}, {1: 2}, None, b"x", b"\xff", bytearray(b"y"), "",
                     "x", "\udcff", " ", "\x00", True, False, _OBJECT, (), ("a",), {1, 2}, 1j, object, ValueError,
                     "99999999999999999999999999999999", "-1", "nan", "inf"]),
    st.integers(), st.floats(), st.text(max_size=6), st.binary(max_size=3),
    st.lists(st.one_of(st.integers(), st.text(max_size=3)), max_size=3),
    st.dictionaries(st.text(max_size=3), st.one_of(st.integers(), st.text(max_size=3), st.none()), max_size=2))


@dataclass
class Env:
    """The process-wide facades and engines, with one of each thing a call can name."""

    metrics: Any
    logs: Any
    traces: Any
    health: Any
    alerts: Any
    dashboard: Any
    integration: Any
    span_id: str = ""
    trace_id: str = ""
    alert_id: str = ""


@dataclass(frozen=True)
class Case:
    """``call(env, **{**base, arg: value})``."""

    label: str
    call: Callable[..., Any]
    base: dict[str, Any]
    arg: str


def _live(kwargs: dict[str, Any], live_id: str) -> dict[str, Any]:
    return {k: live_id if v is LIVE else v for k, v in kwargs.items()}


def _case(label: str, call: Callable[..., Any], base: dict[str, Any], *args: str) -> list[Case]:
    return [Case(f"{label}({arg}=)", call, base, arg) for arg in (args or tuple(base))]


def _decorated(factory: Callable[..., Any]) -> Callable[..., Any]:
    def call(env: Env, **kwargs: Any) -> Any:
        return factory(**kwargs)(lambda: 1)()
    return call


def _context(factory: Callable[..., Any]) -> Callable[..., Any]:
    def call(env: Env, **kwargs: Any) -> Any:
        with factory(**kwargs):
            return None
    return call


CASES: list[Case] = [
    # metrics: registration, record calls, queries
    *_case("register_metric", lambda e, **k: e.metrics.register_metric(**k),
           {"name": "hostile_reg", "metric_type": "histogram", "description": "", "unit": "ms", "buckets": [1, 2]}),
    *_case("increment_counter", lambda e, **k: e.metrics.increment_counter(**k),
           {"name": "jobs", "value": 1, "labels": {"k": "v"}}),
    *_case("set_gauge", lambda e, **k: e.metrics.set_gauge(**k), {"name": "depth", "value": 1, "labels": None}),
    *_case("increment_gauge", lambda e, **k: e.metrics.increment_gauge(**k),
           {"name": "depth", "value": 1, "labels": None}),
    *_case("decrement_gauge", lambda e, **k: e.metrics.decrement_gauge(**k),
           {"name": "depth", "value": 1, "labels": None}),
    *_case("observe_histogram", lambda e, **k: e.metrics.observe_histogram(**k),
           {"name": "latency", "value": 1, "labels": {"k": "v"}}),
    *_case("observe_summary", lambda e, **k: e.metrics.observe_summary(**k),
           {"name": "sizes", "value": 1, "labels": None}),
    *_case("recorder", lambda e, **k: e.metrics.recorder(**k),
           {"name": "jobs", "labels": {"k": "v"}, "metric_type": "counter"}),
    *_case("recorder(...)(value)", lambda e, **k: e.metrics.recorder("latency", {"k": "v"}, metric_type="histogram")(
        k["value"]), {"value": 1}),
    *_case("get_metric_statistics", lambda e, **k: e.metrics.get_metric_statistics(**k),
           {"name": "jobs", "labels": None}),
    *_case("prometheus_name", lambda e, **k: e.metrics.prometheus_name(**k), {"name": "jobs"}),
    # logs
    *_case("logs.info", lambda e, **k: e.logs.info(**k), {"component": "api", "message": "m"}),
    *_case("logs.error", lambda e, **k: e.logs.error(**k),
           {"component": "api", "message": "m", "exception": "TimeoutError", "trace_id": "t"}, "exception", "trace_id"),
    *_case("logs.log", lambda e, **k: e.logs.log(**k), {"level": "INFO", "component": "api", "message": "m"}),
    *_case("get_logs", lambda e, **k: e.logs.get_logs(**k),
           {"component": None, "level": None, "limit": 10, "since": None, "trace_id": None}),
    *_case("get_component_logs", lambda e, **k: e.logs.get_component_logs(**k), {"component": "api", "limit": 5}),
    *_case("search_logs", lambda e, **k: e.logs.search_logs(**k),
           {"query": "m", "component": None, "level": None, "limit": 5}),
    *_case("capture_logging", _context(lambda **k: _ENV[0].logs.capture_logging(**k)),
           {"level": "INFO", "logger": "hostile.capture"}),
    # traces
    *_case("start_trace", lambda e, **k: e.traces.end_trace(e.traces.start_trace(**k)),
           {"service": "svc", "request_id": None, "kind": None}),
    *_case("start_span", lambda e, **k: e.traces.end_span(e.traces.start_span(**k)),
           {"operation_name": "op", "component": "c", "parent_span_id": None, "trace_id": None, "tags": None,
            "kind": "internal"}),
    *_case("end_span", lambda e, **k: e.traces.end_span(**k), {"span_id": "0" * 16, "status": "SUCCESS",
                                                               "error": None}, "span_id"),
    *_case("end_span", lambda e, **k: e.traces.end_span(e.traces.start_span("op", "c"), **k),
           {"status": "SUCCESS", "error": None}),
    *_case("end_trace", lambda e, **k: e.traces.end_trace(**k), {"trace_id": "0" * 32}),
    *_case("add_event", lambda e, **k: e.traces.add_event(**_live(k, e.span_id)),
           {"span_id": LIVE, "name": "evt", "attributes": {"a": 1}}),
    *_case("add_tag", lambda e, **k: e.traces.add_tag(**_live(k, e.span_id)),
           {"span_id": LIVE, "key": "k", "value": "v"}),
    *_case("traces.inject", lambda e, **k: e.traces.inject(**k), {"carrier": {}, "span_id": None}),
    *_case("traces.extract", lambda e, **k: e.traces.extract(**k), {"carrier": {}}),
    *_case("get_trace", lambda e, **k: e.traces.get_trace(**k), {"trace_id": "0" * 32}),
    *_case("get_slow_traces", lambda e, **k: e.traces.get_slow_traces(**k),
           {"duration_threshold_ms": 1000, "limit": 10}),
    *_case("get_error_traces", lambda e, **k: e.traces.get_error_traces(**k), {"limit": 10}),
    *_case("export_trace", lambda e, **k: e.traces.export_trace(**_live(k, e.trace_id)),
           {"trace_id": LIVE, "path": "trace.json"}),
    *_case("traces.span", _context(lambda **k: _ENV[0].traces.span(**k)),
           {"operation_name": "op", "component": "c", "kind": "internal", "tags": None}),
    *_case("extract", lambda e, **k: extract(**k), {"carrier": {}}),
    *_case("inject", lambda e, **k: inject(**k), {"carrier": {}, "context": None}),
    # health
    *_case("register_check", lambda e, **k: e.health.register_check(**k),
           {"component": "db", "check_name": "ping2", "check_func": lambda: True, "timeout_s": 1.0,
            "interval_s": 30.0, "critical": True, "probe": "readiness", "depends_on": ()}),
    *_case("register_dependency", lambda e, **k: e.health.register_dependency(**k),
           {"component": "api", "depends_on": "db"}),
    *_case("run_check", lambda e, **k: e.health.run_check(**k), {"component": "db", "check_name": "ping"}),
    *_case("get_component_status", lambda e, **k: e.health.get_component_status(**k), {"component": "db"}),
    *_case("get_check_history", lambda e, **k: e.health.get_check_history(**k),
           {"component": "db", "check_name": "ping", "limit": 10}),
    *_case("probe", lambda e, **k: e.health.probe(**k), {"probe": "readiness"}),
    *_case("unregister_check", lambda e, **k: e.health.unregister_check(**k),
           {"component": "db", "check_name": "no-such-check"}),
    *_case("export_health_report", lambda e, **k: e.health.export_health_report(**k), {"path": "health.json"}),
    *_case("create_storage_check", lambda e, **k: create_storage_check(**k),
           {"path": ".", "min_free_bytes": None, "min_free_percent": None}),
    *_case("create_database_check", lambda e, **k: create_database_check(**k),
           {"url": "postgresql://u@127.0.0.1:1/db", "timeout_s": 1.0}),
    *_case("create_kafka_check", lambda e, **k: create_kafka_check(**k),
           {"bootstrap_servers": "127.0.0.1:1", "timeout_s": 1.0}),
    # alerts
    *_case("evaluate_and_trigger", lambda e, **k: e.alerts.evaluate_and_trigger(**k),
           {"metric": "cpu_usage", "value": 50, "labels": None}),
    *_case("acknowledge_alert", lambda e, **k: e.alerts.acknowledge_alert(**_live(k, e.alert_id)),
           {"alert_id": LIVE, "acknowledged_by": "admin"}),
    *_case("resolve_alert", lambda e, **k: e.alerts.resolve_alert(**k),
           {"alert_id": "no-such-alert", "resolved_by": "admin"}, "alert_id"),
    *_case("suppress_alert", lambda e, **k: e.alerts.suppress_alert(**_live(k, e.alert_id)),
           {"alert_id": LIVE, "duration_minutes": 60}),
    *_case("add_silence", lambda e, **k: e.alerts.add_silence(**k),
           {"matchers": {"alertname": "x"}, "duration_minutes": 5, "created_by": "me", "comment": ""}),
    *_case("get_alerts_by_severity", lambda e, **k: e.alerts.get_alerts_by_severity(**k), {"severity": "critical"}),
    *_case("get_alert", lambda e, **k: e.alerts.get_alert(**k), {"alert_id": "no-such-alert"}),
    *_case("get_alert_history", lambda e, **k: e.alerts.get_alert_history(**k), {"limit": 10}),
    *_case("get_audit_log", lambda e, **k: e.alerts.get_audit_log(**k), {"limit": 10}),
    *_case("get_silences", lambda e, **k: e.alerts.get_silences(**k), {"include_expired": False}),
    *_case("export_incidents", lambda e, **k: e.alerts.export_incidents(**k), {"path": "incidents.json"}),
    *_case("export_prometheus_rules", lambda e, **k: e.alerts.export_prometheus_rules(**k),
           {"path": "rules.yml", "group": "g", "rate_window": "5m"}),
    *_case("remove_rule", lambda e, **k: e.alerts.remove_rule(**k), {"rule_id": "no-such-rule"}, "rule_id"),
    *_case("AlertRule", lambda e, **k: AlertRule(**k),
           {"rule_id": "r9", "name": "n", "metric": "m", "condition": "> 1", "threshold": 1.0, "severity": "high",
            "notification_channels": (), "labels": None, "statistic": "value", "for_s": 0.0,
            "keep_firing_for_s": 0.0, "clear_threshold": None, "cooldown_s": 300.0, "group_by": None,
            "description": "", "annotations": None}),
    *_case("NotificationChannel", lambda e, **k: NotificationChannel(**k),
           {"channel_type": "webhook", "channel_name": "hook", "config": {"url": "http://127.0.0.1:1/"}}),
    # dashboard
    *_case("get_metrics_panel", lambda e, **k: e.dashboard.get_metrics_panel(**k), {"metric_name": None}),
    *_case("get_traces_panel", lambda e, **k: e.dashboard.get_traces_panel(**k),
           {"status": None, "service": None, "limit": 10}),
    *_case("dashboard.get_trace", lambda e, **k: e.dashboard.get_trace(**k), {"trace_id": "0" * 32}),
    *_case("get_logs_panel", lambda e, **k: e.dashboard.get_logs_panel(**k),
           {"component": None, "level": None, "query": None, "limit": 10}),
    *_case("get_alerts_panel", lambda e, **k: e.dashboard.get_alerts_panel(**k), {"severity": None}),
    *_case("dashboard.acknowledge_alert", lambda e, **k: e.dashboard.acknowledge_alert(**k),
           {"alert_id": "no-such-alert", "by": "me"}),
    *_case("dashboard.resolve_alert", lambda e, **k: e.dashboard.resolve_alert(**k),
           {"alert_id": "no-such-alert", "by": "me"}),
    *_case("get_timeline_data", lambda e, **k: e.dashboard.get_timeline_data(**k),
           {"hours": 1, "bucket_minutes": None}),
    *_case("export_report", lambda e, **k: e.dashboard.export_report(**k), {"path": "report.json"}),
    *_case("ObservabilityDashboard.from_home", lambda e, **k: ObservabilityDashboard.from_home(**k),
           {"path": "/nonexistent-home"}),
    # integration
    *_case("register_component", lambda e, **k: e.integration.register_component(**k),
           {"name": "kafka", "component_type": "streaming"}),
    *_case("get_component", lambda e, **k: e.integration.get_component(**k), {"name": "kafka"}),
    *_case("record_policy_check", lambda e, **k: e.integration.record_policy_check(**k),
           {"policy": "pii", "passed": True, "resource": None, "details": None}),
    *_case("create_timer", _context(lambda **k: _ENV[0].integration.create_timer(**k)),
           {"component": "spark", "operation": "job"}),
    *_case("monitored_function", lambda e, **k: e.integration.monitored_function(**k)(lambda: 1)(),
           {"component": "spark", "operation": "job"}),
    # utilities and decorators
    *_case("make_metric_name", lambda e, **k: make_metric_name(**k),
           {"component": "kafka", "name": "messages", "suffix": None}),
    *_case("make_log_message", lambda e, **k: make_log_message(**k),
           {"component": "spark", "operation": "run", "status": "success", "duration_ms": None, "error": None}),
    *_case("retry_with_tracking", _decorated(retry_with_tracking),
           {"max_retries": 3, "base_delay": 0.1, "max_delay": 10.0, "exceptions": (Exception,), "component": None}),
    *_case("measure_time", _context(measure_time), {"component": "c", "operation": "o"}),
    *_case("count_operation", _context(count_operation), {"component": "c", "operation": "o"}),
    *[c for factory in (TrackExecution, TrackTiming, TrackErrors, CountCalls, TraceFunction)
      for c in _case(factory.__name__, _decorated(factory), {"component": "c", "name": None})],
    *_case("LogFunction", _decorated(LogFunction), {"component": "c", "name": None, "level": "info",
                                                    "log_start": True}),
]
_ENV: list[Env] = []


def _names_the_argument(exc: BaseException, case: Case, value: Any) -> bool:
    text = str(exc)
    if isinstance(exc, KeyError) and repr(value)[:20] in text:  # an unknown metric, check or alert, named
        return True
    return case.arg in text or case.arg.rstrip("s") in text


@pytest.fixture
def env(process_wide, monkeypatch, tmp_path):
    """Facades and engines on this test's pipeline, in the host's mode (faults contained, not raised)."""
    from monitoring_layer import (
        config,
        get_alert_manager,
        get_health_check_manager,
        get_log_aggregator,
        get_metrics_collector,
        get_monitoring_integration,
        get_observability_dashboard,
        get_tracing_collector,
    )

    monkeypatch.chdir(tmp_path)  # export_*(path) rows write relative paths here
    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()
    built = Env(get_metrics_collector(), get_log_aggregator(), get_tracing_collector(), get_health_check_manager(),
                get_alert_manager(), get_observability_dashboard(), get_monitoring_integration())
    built.metrics.increment_counter("jobs", labels={"k": "v"})
    built.health.register_check("db", "ping", lambda: True, timeout_s=5)
    built.health.run_check("db", "ping")
    built.alerts.register_rule(AlertRule(rule_id="cpu_high", name="High CPU", metric="cpu_usage", condition="> 85",
                                         threshold=85, severity="critical"))
    built.trace_id = built.traces.start_trace(service="hostile")
    built.span_id = built.traces.start_span("open", component="hostile")
    _ENV[:] = [built]
    yield built
    _ENV.clear()


def _fire(env: Env) -> None:
    """A firing alert for the calls that take an ``alert_id``."""
    active = env.alerts.get_active_alerts()
    if not active:
        env.alerts.evaluate_and_trigger(metric="cpu_usage", value=95)
        active = env.alerts.get_active_alerts()
    env.alert_id = active[0]["alert_id"] if active else ""


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_a_public_call_raises_only_documented_errors_naming_the_argument(env: Env, case: Case) -> None:
    # The shrunk examples of what this property found (each was a bug in some row):
    # 10**400 into set_gauge / AlertRule(cooldown_s) / make_log_message(duration_ms) (OverflowError; a
    # counter or gauge given it failed every later collection); [] as span_id / health names / rule_id /
    # component name (unhashable); [0] as inject's carrier or context; inf as add_silence/suppress_alert
    # duration (the alert files could no longer be written), as evaluate_and_trigger labels, as
    # AlertRule(notification_channels) or a query limit; "x" as span(tags=).
    # ~200 rows: half the profile's examples each keeps the file near 30 s on a small machine.
    @settings(max_examples=max(10, settings.default.max_examples // 2))
    @given(value=HOSTILE)
    @example(value=10**400)
    @example(value=[])
    @example(value=[0])
    @example(value=math.inf)
    @example(value=math.nan)
    @example(value="x")
    def check(value: Any) -> None:
        fresh_ids()
        _fire(env)
        try:
            case.call(env, **{**case.base, case.arg: value})
        except UnicodeError as exc:
            raise AssertionError(f"{case.label} {value!r}: a UnicodeError escaped: {exc!r}") from exc
        except OSError as exc:  # the path's own problem (a directory, no such folder): what open() says
            assert case.arg == "path", f"{case.label} {value!r}: {exc!r}"
        except (ValueError, TypeError, KeyError) as exc:
            assert _names_the_argument(exc, case, value), f"{case.label} {value!r}: {exc!r} does not name {case.arg!r}"

    check()
