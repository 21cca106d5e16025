"""``monitoring-layer demo``: a simulated data platform, instrumented only through the public API.

Four layers run in one loop, each through the spec's facades, decorators and
platform integration: ingestion from a Kafka-like queue (``monitored_function``,
``kafka_*`` auto-metrics), Spark-like batch jobs (a trace per job with a span per
stage), lakehouse writes (``TrackExecution``) and governance checks
(``count_operation``, logs). Faults are injected on a fixed schedule (a latency
spike, an error burst, growing consumer lag) so the dashboard has something to
show. The JSON files are written under the home, and the one server serves the
dashboard, ``/metrics`` and the probes.

The schedule repeats every ``cycle_s`` seconds (the whole duration when one is
given), so a short run still sees every fault start and end.
"""

from __future__ import annotations

import collections
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from monitoring_layer import config, pipeline
from monitoring_layer._defaults import get_alert_manager, get_health_check_manager, get_observability_dashboard, serve
from monitoring_layer.alerts import AlertRule
from monitoring_layer.health import create_storage_check
from monitoring_layer.integration import get_monitoring_integration
from monitoring_layer.logging import get_log_aggregator
from monitoring_layer.metrics import get_metrics_collector
from monitoring_layer.tracing import get_tracing_collector
from monitoring_layer.utils import TrackExecution, count_operation, measure_time

__all__ = ["FAULTS", "run_demo"]

#: (name, start, end) as fractions of a cycle.
FAULTS: tuple[tuple[str, float, float], ...] = (
    ("latency spike", 0.20, 0.35),
    ("error burst", 0.45, 0.60),
    ("lag growth", 0.70, 0.85),
)
TICK_S = 0.1


class _Platform:
    """The simulated platform: one ``step(phase)`` per tick."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.metrics = get_metrics_collector()
        self.logs = get_log_aggregator()
        self.traces = get_tracing_collector()
        self.integration = get_monitoring_integration(self.metrics, self.logs, self.traces)
        for name, kind in (("kafka_ingestion", "streaming"), ("spark_processing", "computing"),
                           ("lakehouse_storage", "storage"), ("governance", "governance")):
            self.integration.register_component(name, kind)
        self.integration.integrate_kafka_metrics()
        self.integration.integrate_spark_metrics()
        self.integration.integrate_lakehouse_metrics()
        self.integration.integrate_governance_metrics()
        self.metrics.register_metric("batch_job_duration_ms", "gauge", "Duration of the latest batch job.", "ms")
        self.queue: collections.deque[int] = collections.deque(maxlen=100_000)
        self.offset = 0
        self.records = 0
        self.write_failures = 0
        self.consume = self.integration.monitored_function("kafka_ingestion", "consume_batch")(self._consume)
        self.write = TrackExecution(component="lakehouse_storage", metrics_collector=self.metrics)(self._write)

    def _consume(self, n: int) -> list[int]:
        batch = [self.queue.popleft() for _ in range(min(n, len(self.queue)))]
        self.metrics.increment_counter("kafka_messages_in", len(batch))
        self.metrics.set_gauge("kafka_lag", len(self.queue))
        return batch

    def _write(self, batch: list[int], fail: bool) -> int:
        if fail:
            raise OSError("lakehouse write failed: object store returned 503")
        self.metrics.increment_counter("lakehouse_records_ingested", len(batch))
        self.metrics.set_gauge("lakehouse_data_size_gb", 120 + self.records / 1e6)
        return len(batch)

    def step(self, phase: set[str]) -> None:
        rng = self.rng
        # ingestion: producers add messages; under "lag growth" the consumer falls behind
        for _ in range(rng.randint(40, 60)):
            self.offset += 1
            self.queue.append(self.offset)
        # the consumer falls behind under "lag growth", and catches up quickly after it
        batch = self.consume(20 if "lag growth" in phase else 150)
        # batch job: one trace, a span per stage
        slow = "latency spike" in phase
        trace_id = self.traces.start_trace(service="spark-batch", request_id=f"job-{self.offset}")
        failed = False
        job_started = time.perf_counter()
        for stage in ("read", "transform", "write"):
            span = self.traces.start_span(operation_name=f"stage.{stage}", component="spark_processing")
            # The stage's work is simulated by waiting, so the span, the trace and the histogram all see
            # the same real duration (the latency spike makes "transform" fifteen times slower).
            planned_ms = rng.uniform(1, 4) * (15 if slow and stage == "transform" else 1)
            started = time.perf_counter()
            time.sleep(planned_ms / 1000)
            self.metrics.observe_histogram("spark_execution_time_ms", (time.perf_counter() - started) * 1000,
                                           labels={"stage": stage})
            status = "SUCCESS"
            if stage == "write":
                fail = "error burst" in phase and rng.random() < 0.6
                try:
                    self.records += self.write(batch, fail)
                except OSError as exc:
                    failed = True
                    self.write_failures += 1
                    status = "ERROR"
                    self.logs.error("lakehouse_storage", "write failed", exception=type(exc).__name__,
                                    records=len(batch))
            self.traces.end_span(span, status)
        self.traces.end_trace(trace_id, "ERROR" if failed else "SUCCESS")
        self.metrics.set_gauge("batch_job_duration_ms", (time.perf_counter() - job_started) * 1000)
        self.metrics.increment_counter("spark_jobs_completed")
        self.metrics.increment_counter("spark_tasks_completed", 3)
        self.metrics.set_gauge("spark_memory_used_mb", 2048 + rng.uniform(-200, 400) + (1500 if slow else 0))
        if slow:
            self.logs.warning("spark_processing", "stage transform is slow", job=f"job-{self.offset}")
        # governance: a policy check now and then
        if rng.random() < 0.3:
            with count_operation("governance", "policy_check", self.metrics), \
                    measure_time("governance", "policy_check", self.metrics):
                self.metrics.increment_counter("governance_policies_checked")
                violation = rng.random() < (0.3 if failed else 0.05)
                if violation:
                    self.metrics.increment_counter("governance_violations_detected")
                    self.logs.warning("governance", "policy violation: column 'email' is not masked",
                                      policy="pii_masking")
                self.metrics.set_gauge("governance_compliance_score", 99.0 - 5 * violation)
        self.metrics.set_gauge("lakehouse_quality_score", 97.0 - (10 if failed else 0))
        self.logs.info("kafka_ingestion", "batch consumed", messages=len(batch), lag=len(self.queue))


def _register_health(health: Any, platform: _Platform, home: Path, clock: Callable[[], float]) -> None:
    """Checks on the platform: consumer lag, the lakehouse folder, and a flapping schema registry
    that the batch jobs depend on (while it is down, spark_processing is degraded)."""
    def consumer_lag() -> dict[str, Any]:
        lag = len(platform.queue)
        return {"status": "healthy" if lag < 300 else "degraded", "observed_value": lag,
                "observed_unit": "messages", "output": f"{lag} messages behind"}

    started = clock()

    def schema_registry() -> dict[str, Any]:
        up = (clock() - started) % 5.0 < 3.0  # the flapping dependency: down 2 seconds out of every 5
        return {"status": "healthy" if up else "unhealthy", "output": "reachable" if up else "connection refused"}

    health.register_check("kafka_ingestion", "consumer_lag", consumer_lag, interval_s=1.0)
    health.register_check("lakehouse_storage", "storage", create_storage_check(str(home)), interval_s=2.0)
    health.register_check("schema_registry", "ping", schema_registry, interval_s=1.0)
    health.register_check("spark_processing", "executors", lambda: True, interval_s=2.0,
                          depends_on="schema_registry")


def _register_alerts(alerts: Any) -> None:
    """One rule per injected fault: each fires while its fault lasts and resolves after it."""
    alerts.register_rule(AlertRule(
        "batch_latency_high", "Batch job latency high", "batch_job_duration_ms", "> 25", 25, "high",
        cooldown_s=0, description="the latest batch job took over 25 ms"))
    alerts.register_rule(AlertRule(
        "lakehouse_write_errors", "Lakehouse writes failing", "function_errors_total", "> 1", 1, "critical",
        labels={"component": "lakehouse_storage"}, statistic="rate", cooldown_s=0,
        description="more than one failed lakehouse write per second"))
    alerts.register_rule(AlertRule(
        "kafka_lag_high", "Kafka consumer lag", "kafka_lag", "> 300", 300, "medium", cooldown_s=0,
        description="the consumer is more than 300 messages behind"))


def _alert_counts(alerts: Any) -> tuple[int, int]:
    """Alerts that fired, and those of them resolved since, in this run."""
    seen = {a["alert_id"]: a for a in [*alerts.get_alert_history(limit=10_000), *alerts.get_active_alerts()]}
    fired = [a for a in seen.values() if a.get("fired_at")]
    return len(fired), sum(1 for a in fired if a.get("state") == "resolved")


def _phase(elapsed: float, cycle_s: float) -> set[str]:
    position = (elapsed % cycle_s) / cycle_s
    return {name for name, start, end in FAULTS if start <= position < end}


def run_demo(home: Path | None = None, *, host: str = "127.0.0.1", port: int = 8050, duration_s: float | None = None,
             cycle_s: float = 60.0, out: TextIO | None = None, seed: int = 7,
             clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Run the simulated platform with the server until ``duration_s`` ends or Ctrl-C; returns the summary."""
    out = out or sys.stdout
    overrides: dict[str, Any] = {"export_interval_s": 1.0}
    if home is not None:
        overrides["home"] = Path(home)
    if config.get_settings().service_name is None:
        overrides["service_name"] = "data-platform-demo"
    settings = config.configure(**overrides)
    platform = _Platform(random.Random(seed))
    health = get_health_check_manager()
    _register_health(health, platform, Path(settings.home), clock)
    alerts = get_alert_manager()
    _register_alerts(alerts)
    dashboard = get_observability_dashboard(platform.metrics, platform.logs, platform.traces, health, alerts)
    server = serve(host, port)  # the one server: /metrics, the health probes, the dashboard
    stop = threading.Event()
    previous = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    if previous is not None:
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cycle = duration_s if duration_s else cycle_s
    platform.step(set())  # one step before the URLs are printed: whoever opens them sees data
    print("monitoring-layer demo: a simulated data platform (ingest, batch jobs, lakehouse, governance)", file=out)
    print(f"  dashboard   {server.url}/", file=out)
    print(f"  metrics     {server.url}/metrics", file=out)
    print(f"  probes      {server.url}/livez  {server.url}/readyz  {server.url}/healthz", file=out)
    print(f"  files       {settings.home}", file=out)
    print("  faults      " + ", ".join(f"{n} at {int(a * cycle)}-{int(b * cycle)} s" for n, a, b in FAULTS)
          + (f" (every {int(cycle)} s)" if not duration_s else ""), file=out)
    print("  Ctrl-C stops" + (f"; runs {duration_s:g} s" if duration_s else ""), file=out, flush=True)
    started = clock()
    last_report = -10.0
    ticks: dict[str, int] = {name: 0 for name, _start, _end in FAULTS}
    try:
        while not stop.is_set():
            elapsed = clock() - started
            if duration_s is not None and elapsed >= duration_s:
                break
            phase = _phase(elapsed, cycle)
            platform.step(phase)
            for name in phase:
                ticks[name] += 1
            if elapsed - last_report >= 2.0:
                last_report = elapsed
                summary = dashboard.get_dashboard_summary()
                counts = summary["counts"]
                print(f"  [{elapsed:5.1f}s] {summary['status']:<9} traces {counts['traces']:>5}  "
                      f"errors {counts['error_traces']:>4}  logs {counts['logs']:>5}  "
                      f"lag {len(platform.queue):>5}  {', '.join(sorted(phase)) or 'steady'}", file=out, flush=True)
            stop.wait(TICK_S)
    finally:
        pipeline.flush()
        summary = dashboard.get_dashboard_summary()
        result = {
            "url": server.url,
            "home": str(settings.home),
            "records": platform.records,
            "write_failures": platform.write_failures,
            "traces": summary["counts"]["traces"],
            "error_traces": summary["counts"]["error_traces"],
            "logs": summary["counts"]["logs"],
            "metrics": summary["counts"]["metrics"],
            "fault_ticks": ticks,
            "alerts_fired_resolved": _alert_counts(alerts),
            "health": {c["component"]: c["status"] for c in dashboard.get_health_panel()["components"]},
            "files": sorted(str(p.relative_to(settings.home)) for p in Path(settings.home).rglob("*.json")),
        }
        server.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    print("summary", file=out)
    print(f"  records written   {result['records']} ({result['write_failures']} failed writes)", file=out)
    print(f"  traces            {result['traces']} ({result['error_traces']} in error)", file=out)
    print(f"  log records       {result['logs']}", file=out)
    fired, resolved = result["alerts_fired_resolved"]
    print(f"  alerts            fired {fired}, resolved {resolved}", file=out)
    print("  health now        " + ", ".join(f"{name} {status}" for name, status in result["health"].items()),
          file=out)
    print("  faults injected   " + ", ".join(f"{name} for {n} steps" for name, n in ticks.items()), file=out)
    print(f"  metrics           {result['metrics']}", file=out)
    print(f"  files             {result['home']}: {', '.join(result['files'])}", file=out)
    print(f"  check them with   monitoring-layer check --home {result['home']}", file=out, flush=True)
    return result
