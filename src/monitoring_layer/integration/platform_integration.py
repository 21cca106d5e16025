"""``MonitoringIntegration``: one place to instrument a data platform (SPEC §7).

* ``register_component(name, component_type)``: the platform's components,
  listed by ``get_registered_components()`` with their type and last activity
  (the last ``monitored_function`` call or ``create_timer`` block that named them);
* ``integrate_{kafka,spark,lakehouse,governance}_metrics()``: register the
  layer's auto-metrics on the metrics collector (once per collector);
* ``monitored_function(component, operation)``: one decorator that counts,
  times, logs and traces each call;
* ``create_timer(component, operation)``: a context manager timing a block;
* ``record_policy_check(policy, passed)``: one governance check, counted in
  ``governance_policies_checked{policy}`` / ``governance_violations_detected{policy}``,
  and the integration's running ``governance_compliance_score``.

The operation-level metric families (labels ``component``, ``operation``) are
shared with ``count_operation`` and ``measure_time``:
``operations_total{status}``, ``operation_errors_total{error_type}``,
``operation_duration_ms{status}``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

from monitoring_layer import _selfmon
from monitoring_layer.utils._collectors import check_collector, check_text, default, ensure_registered, fault
from monitoring_layer.utils._names import ERROR, STATUSES, SUCCESS, end_span_for, make_log_message, outcome
from monitoring_layer.utils._wrap import instrument
from monitoring_layer.utils.context import OPERATION_DURATION, OPERATION_ERRORS, OPERATIONS, measure_time

from ._layers import LAYERS

__all__ = ["MonitoringIntegration", "get_monitoring_integration"]

_F = TypeVar("_F", bound=Callable[..., Any])
_perf = time.perf_counter_ns
_FAMILIES = (OPERATIONS, OPERATION_ERRORS, OPERATION_DURATION)
_GOVERNANCE = tuple(LAYERS["governance"])

#: Components one integration remembers; more are refused at registration.
MAX_COMPONENTS = 1_000


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


class MonitoringIntegration:
    """Unified monitoring for the platform's layers, on the given collectors.

    A collector left ``None`` is the process-wide one, looked up when used.
    """

    def __init__(self, metrics: Any = None, logs: Any = None, traces: Any = None) -> None:
        self.metrics = check_collector(metrics, "metrics", "metrics")
        self.logs = check_collector(logs, "logs", "logs")
        self.traces = check_collector(traces, "traces", "traces")
        self._lock = threading.Lock()
        self._components: dict[str, dict[str, Any]] = {}
        self._checks = 0      # governance checks recorded by this integration, and how many passed
        self._checks_passed = 0

    # -- collectors ---------------------------------------------------------------

    def _metrics(self) -> Any:
        return self.metrics if self.metrics is not None else default("metrics")

    def _logs(self) -> Any:
        return self.logs if self.logs is not None else default("logs")

    def _traces(self) -> Any:
        return self.traces if self.traces is not None else default("traces")

    # -- components -----------------------------------------------------------------

    def register_component(self, name: str, component_type: str) -> dict[str, Any]:
        """Register (or re-type) a platform component; returns its entry.

        >>> integration.register_component("kafka_ingestion", "streaming")  # doctest: +SKIP
        """
        name = check_text(name, "name")
        component_type = check_text(component_type, "component_type")
        with self._lock:
            entry = self._components.get(name)
            if entry is None:
                if len(self._components) >= MAX_COMPONENTS:
                    raise ValueError(f"cannot register component {name!r}: this integration already has "
                                     f"{MAX_COMPONENTS} components")
                entry = self._components[name] = {"registered_at": time.time(), "last_activity": None}
            entry["type"] = component_type
        return self.get_component(name)  # type: ignore[return-value]

    def get_component(self, name: str) -> dict[str, Any] | None:
        """``{"name", "type", "registered_at", "last_activity"}`` (ISO-8601 UTC), or None."""
        if not isinstance(name, str):
            raise TypeError(f"name must be a string, not {type(name).__name__}")
        entry = self._components.get(name)
        if entry is None:
            return None
        return {"name": name, "type": entry["type"], "registered_at": _iso(entry["registered_at"]),
                "last_activity": _iso(entry["last_activity"])}

    def get_registered_components(self) -> list[dict[str, Any]]:
        """Every registered component with its type and last activity, in registration order."""
        with self._lock:
            names = list(self._components)
        return [c for c in map(self.get_component, names) if c is not None]

    def _touch(self, component: str) -> None:
        entry = self._components.get(component)
        if entry is not None:
            entry["last_activity"] = time.time()  # one float store: atomic, no lock needed

    # -- auto-metrics -----------------------------------------------------------------

    def _integrate(self, layer: str) -> dict[str, dict[str, str]]:
        definitions = LAYERS[layer]
        ensure_registered(self._metrics(), tuple(definitions), definitions)
        return {name: {"type": t, "description": d, "unit": u} for name, (t, d, u) in definitions.items()}

    def integrate_kafka_metrics(self) -> dict[str, dict[str, str]]:
        """Register ``kafka_messages_in``, ``kafka_messages_out``, ``kafka_lag``, ``kafka_processing_time_ms``.

        Returns ``{name: {"type", "description", "unit"}}``; a second call registers nothing
        again and returns the same.
        """
        return self._integrate("kafka")

    def integrate_spark_metrics(self) -> dict[str, dict[str, str]]:
        """Register ``spark_jobs_completed``, ``spark_tasks_completed``, ``spark_memory_used_mb``,
        ``spark_execution_time_ms`` (see ``integrate_kafka_metrics``)."""
        return self._integrate("spark")

    def integrate_lakehouse_metrics(self) -> dict[str, dict[str, str]]:
        """Register ``lakehouse_records_ingested``, ``lakehouse_records_processed``,
        ``lakehouse_data_size_gb``, ``lakehouse_quality_score``."""
        return self._integrate("lakehouse")

    def integrate_governance_metrics(self) -> dict[str, dict[str, str]]:
        """Register ``governance_policies_checked``, ``governance_violations_detected``,
        ``governance_compliance_score``."""
        return self._integrate("governance")

    # -- governance ---------------------------------------------------------------------

    def record_policy_check(self, policy: str, passed: bool, *, resource: str | None = None,
                            details: Any = None) -> dict[str, Any]:
        """Record one governance policy check (there is no library to instrument: the caller checks).

        Counts it in ``governance_policies_checked{policy}``, a failed one also in
        ``governance_violations_detected{policy}`` (and logs a WARNING
        ``[GOVERNANCE] <policy> - violation`` with ``resource`` and ``details``), and sets
        ``governance_compliance_score`` (no labels) to the percentage of this integration's
        checks that passed. Returns ``{"policy", "passed", "checks", "violations",
        "compliance_score"}``. Collector faults are contained like ``monitored_function``'s.

        >>> integration.record_policy_check("pii_masking", passed=False, resource="orders")  # doctest: +SKIP
        """
        policy = check_text(policy, "policy")
        if not isinstance(passed, bool):
            raise TypeError(f"passed must be a bool, got {type(passed).__name__}")
        if resource is not None:
            resource = check_text(resource, "resource")
        with self._lock:
            self._checks += 1
            self._checks_passed += passed
            checks, passed_total = self._checks, self._checks_passed
        score = 100.0 * passed_total / checks
        labels = {"policy": policy}
        try:
            metrics = self._metrics()
            ensure_registered(metrics, _GOVERNANCE, LAYERS["governance"])
            metrics.increment_counter("governance_policies_checked", 1, labels)
            if not passed:
                metrics.increment_counter("governance_violations_detected", 1, labels)
            metrics.set_gauge("governance_compliance_score", score)
        except Exception as problem:  # noqa: BLE001
            fault(problem, f"governance.{policy}")
        if not passed:
            try:
                fields: dict[str, Any] = {"policy": policy}
                if resource is not None:
                    fields["resource"] = resource
                if details is not None:
                    fields["details"] = details if isinstance(details, (str, int, float, bool)) else str(details)
                self._logs().warning("governance", make_log_message("governance", policy, "violation"), **fields)
            except Exception as problem:  # noqa: BLE001
                fault(problem, f"governance.{policy}")
        return {"policy": policy, "passed": passed, "checks": checks, "violations": checks - passed_total,
                "compliance_score": score}

    # -- instrumentation ------------------------------------------------------------------

    def monitored_function(self, component: str, operation: str) -> Callable[[_F], _F]:
        """Decorator: count, time, log and trace each call as ``operation`` of ``component``.

        Per call: ``operations_total`` and ``operation_duration_ms`` (by status),
        ``operation_errors_total`` on an exception; a start log record and a
        completion (INFO) or failure (ERROR, with ``exception=``) one; a span
        named ``operation`` in ``component`` ended SUCCESS/ERROR/CANCELLED. Works on
        functions, methods, ``async def`` and generators (see ``utils._wrap``).
        """
        component = check_text(component, "component")
        operation = check_text(operation, "operation")
        labels = {status: {"component": component, "operation": operation, "status": status}
                  for status in STATUSES}
        started = make_log_message(component, operation, "started")
        where = f"{component}.{operation}"
        bound: list[Any] = [None]

        def metrics() -> Any:
            collector = self._metrics()
            if collector is not bound[0]:
                ensure_registered(collector, _FAMILIES)
                bound[0] = collector
            return collector

        def start() -> tuple[int, Any, Any]:
            traces = span_id = None
            try:
                self._logs().info(component, started, operation=operation)
            except Exception as problem:  # noqa: BLE001
                fault(problem, where)
            try:
                traces = self._traces()
                span_id = traces.start_span(operation_name=operation, component=component)
            except Exception as problem:  # noqa: BLE001
                fault(problem, where)
            return _perf(), traces, span_id

        def finish(token: tuple[int, Any, Any], exc: BaseException | None) -> None:
            begin, traces, span_id = token
            elapsed_ms = (_perf() - begin) / 1e6
            status = outcome(exc)
            self._touch(component)
            try:
                collector = metrics()
                collector.increment_counter(OPERATIONS, 1, labels[status])
                collector.observe_histogram(OPERATION_DURATION, elapsed_ms, labels[status])
                if status == ERROR:
                    collector.increment_counter(OPERATION_ERRORS, 1, {
                        "component": component, "operation": operation, "error_type": type(exc).__name__})
            except Exception as problem:  # noqa: BLE001
                fault(problem, where)
            try:
                logs = self._logs()
                fields = {"operation": operation, "status": status, "duration_ms": elapsed_ms}
                if status == SUCCESS:
                    logs.info(component, make_log_message(component, operation, status, elapsed_ms), **fields)
                elif status == ERROR:
                    logs.error(component, make_log_message(component, operation, status, elapsed_ms, exc),
                               exception=exc, **fields)
                else:
                    logs.warning(component, make_log_message(component, operation, status, elapsed_ms,
                                                             type(exc).__name__), **fields)
            except Exception as problem:  # noqa: BLE001
                fault(problem, where)
            if span_id is not None:
                try:
                    end_span_for(traces, span_id, exc)
                except Exception as problem:  # noqa: BLE001
                    fault(problem, where)

        def decorate(func: _F) -> _F:
            return instrument(func, start, finish)  # type: ignore[return-value]

        return decorate

    def create_timer(self, component: str, operation: str) -> _Timer:
        """Context manager: record the block's duration in ``operation_duration_ms{status}``
        and, when the block raises, ``operation_errors_total{error_type}``.

        >>> with integration.create_timer("spark", "job_execution"):  # doctest: +SKIP
        ...     run_job()
        """
        return _Timer(self, component, operation)

    def __repr__(self) -> str:
        return f"MonitoringIntegration({len(self._components)} components)"


class _Timer(measure_time):
    """``measure_time`` on the integration's collector, plus the error count and component activity."""

    __slots__ = ("_integration",)
    _families = (OPERATION_DURATION, OPERATION_ERRORS)

    def __init__(self, integration: MonitoringIntegration, component: str, operation: str) -> None:
        super().__init__(component, operation, integration.metrics)
        self._integration = integration

    def _metrics(self) -> Any:
        collector = self._integration._metrics()  # noqa: SLF001
        ensure_registered(collector, self._families)
        return collector

    def _record(self, metrics: Any, elapsed_ms: float, exc: BaseException | None) -> None:
        self._integration._touch(self.component)  # noqa: SLF001
        super()._record(metrics, elapsed_ms, exc)
        if outcome(exc) == ERROR:
            metrics.increment_counter(OPERATION_ERRORS, 1, {
                "component": self.component, "operation": self.operation, "error_type": type(exc).__name__})


# --------------------------------------------------------------------------- process-wide

_instances: dict[tuple[int, int, int], MonitoringIntegration] = {}
_instances_lock = threading.Lock()
_MAX_INSTANCES = 64


def get_monitoring_integration(metrics: Any = None, logs: Any = None, traces: Any = None) -> MonitoringIntegration:
    """The integration on these collectors (``None``: the process-wide ones).

    The same collectors give the same instance, so components registered
    through one call are listed through the next.
    """
    key = (id(metrics), id(logs), id(traces))
    with _instances_lock:
        instance = _instances.get(key)
        # the instance holds the collectors, so their ids cannot be reused while it lives
        if instance is None or not (instance.metrics is metrics and instance.logs is logs
                                    and instance.traces is traces):
            instance = MonitoringIntegration(metrics, logs, traces)
            if len(_instances) >= _MAX_INSTANCES:
                _instances.pop(next(iter(_instances)))
                _selfmon.dropped("integration", "instances", 1)
            _instances[key] = instance
        return instance
