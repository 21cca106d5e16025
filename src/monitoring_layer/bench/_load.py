"""One sustained workload in this (fresh) process, run by ``_sustained`` as a script.

``python _load.py SETUP WORKLOAD OPS MIN_SECONDS [CAP]`` (or ``python -m
monitoring_layer.bench._load ...``) prints one JSON object: the cost per operation in
windows (1k, 3k, 10k ... operations), the whole run's, the garbage collector's pauses
and tracked objects, peak RSS.

This module imports nothing of ``monitoring_layer`` at its top: ``_sustained`` runs it by
path (``runpy.run_path``), so the lean contenders' processes hold only what a user of
the OTel SDK alone would hold. Importing our package there would add its modules'
~9,000 objects to every full collection of the lean contender (and of the host
baseline), slowing exactly what we compare ourselves with. Each result says whether the
process imported ``monitoring_layer`` (``imported_monitoring_layer``); ``_sustained``
refuses a contender run that did.

Setups, each what a user would otherwise run:

* ``facade``: monitoring-layer with its defaults (files on, Prometheus reader,
  in-memory stores), ``CAP`` as ``traces_max_traces``/``logs_memory_max_records``;
* ``lean``: the OTel SDK alone: TracerProvider + BatchSpanProcessor,
  LoggerProvider + BatchLogRecordProcessor, MeterProvider +
  PrometheusMetricReader (all three in every lean process, whatever the
  workload records), with exporters that discard the batches;
* ``lean-otlp``: the same, but the exporters encode each batch as OTLP
  protobuf (what an OTLP exporter pays before the network) and discard it.

Workloads: ``root-span`` (one span, made current, ended), ``trace-5`` (a root
and 5 children; figures are per span), ``log`` (one INFO record),
``histogram`` (one value, one label), ``host`` (see ``host_impact``).
``root-span-threads`` and ``log-threads`` split their operations over
``THREADS`` threads recording at once (a worker pool; see ``threaded``).
The garbage collector stays on: its pauses are part of what the host pays.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["SETUPS", "SPANS_PER_OP", "WORKLOADS", "WINDOWS", "main"]

SETUPS = ("facade", "lean", "lean-otlp")
WORKLOADS = ("root-span", "trace-5", "log", "histogram", "host", "root-span-threads", "log-threads")
#: Threads recording at once in the ``-threads`` workloads.
THREADS = 8
#: Spans per operation of each workload (its figures are per span).
SPANS_PER_OP = {"trace-5": 6}
#: Operation counts at which the cost of the window since the previous one is reported.
WINDOWS = (1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000)


class _GcClock:
    """Wall time of every garbage collection in this process (all threads)."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)

    def close(self) -> None:
        gc.callbacks.remove(self._on_gc)


# -- setups ----------------------------------------------------------------------------------

def _facade(workload: str, cap: int | None) -> tuple[Callable[[], None], Callable[[], None]]:
    import monitoring_layer
    from monitoring_layer import get_log_aggregator, get_metrics_collector, get_tracing_collector

    options: dict[str, Any] = {}
    if cap is not None:
        options = {"traces_max_traces": cap, "logs_memory_max_records": cap}
    monitoring_layer.configure(**options)
    if workload in ("root-span", "trace-5"):
        traces = get_tracing_collector()
        start, end = traces.start_span, traces.end_span
        if workload == "root-span":
            def op() -> None:
                end(start("process", "worker"))
        else:
            def op() -> None:
                root = start("handle", "api")
                for _ in range(5):
                    end(start("step", "worker"))
                end(root)
    elif workload == "log":
        info = get_log_aggregator().info

        def op() -> None:
            info("api", "Request received")
    else:
        observe = get_metrics_collector().observe_histogram
        labels = {"service": "api"}
        values = _values()

        def op() -> None:
            observe("bench_latency", next(values), labels)
    return op, lambda: monitoring_layer.shutdown()


def _lean(workload: str, encode: bool) -> tuple[Callable[[], None], Callable[[], None]]:
    from opentelemetry._logs import LogRecord, SeverityNumber

    tracer_provider, logger_provider, meter_provider = _lean_providers(encode)
    if workload in ("root-span", "trace-5"):
        tracer = tracer_provider.get_tracer("bench.lean")
        current = tracer.start_as_current_span
        attributes = {"component": "worker"}
        if workload == "root-span":
            def op() -> None:
                with current("process", attributes=attributes):
                    pass
        else:
            def op() -> None:
                with current("handle", attributes={"component": "api"}):
                    for _ in range(5):
                        with current("step", attributes=attributes):
                            pass
        return op, tracer_provider.shutdown
    if workload == "log":
        logger = logger_provider.get_logger("bench.lean")

        def op() -> None:
            logger.emit(LogRecord(body="Request received", severity_number=SeverityNumber.INFO,
                                  severity_text="INFO", attributes={"component": "api"}))
        return op, logger_provider.shutdown
    histogram = meter_provider.get_meter("bench.lean").create_histogram("bench_latency", unit="ms")
    attributes = {"service": "api"}
    values = _values()

    def record() -> None:
        histogram.record(next(values), attributes)
    return record, meter_provider.shutdown


_LEAN_PROVIDERS: list[Any] = []


def _lean_providers(encode: bool) -> tuple[Any, Any, Any]:
    """The lean setup, built once per process with all three signals, as its user would run it.

    TracerProvider + BatchSpanProcessor, LoggerProvider + BatchLogRecordProcessor, MeterProvider +
    PrometheusMetricReader (on prometheus_client's global registry: this process is the bench's),
    whichever signal the workload records: our facade's process always has all three too.
    """
    if not _LEAN_PROVIDERS:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        span_exporter, log_exporter = _discarding_exporters(encode)
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
        logger_provider = LoggerProvider()
        logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
        meter_provider = MeterProvider(metric_readers=[PrometheusMetricReader()])
        _LEAN_PROVIDERS.extend((tracer_provider, logger_provider, meter_provider))
    tracer_provider, logger_provider, meter_provider = _LEAN_PROVIDERS
    return tracer_provider, logger_provider, meter_provider


def _discarding_exporters(encode: bool) -> tuple[Any, Any]:
    from opentelemetry.sdk._logs.export import LogRecordExporter
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    try:
        from opentelemetry.sdk._logs.export import LogRecordExportResult as LogResult
    except ImportError:  # pragma: no cover - older SDK
        from opentelemetry.sdk._logs.export import LogExportResult as LogResult  # type: ignore[no-redef,assignment]
    encode_spans: Any = None
    encode_logs: Any = None
    if encode:
        try:  # what OTel's OTLP exporters encode with (the log encoder's module is private there too)
            from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
            from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
        except ImportError:
            raise SystemExit("lean-otlp needs the OTLP exporter packages: pip install 'monitoring-layer[otlp]'") from None

    class Spans(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            if encode_spans is not None:
                encode_spans(spans).SerializeToString()
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

    class Logs(LogRecordExporter):
        def export(self, batch: Sequence[Any]) -> Any:
            if encode_logs is not None:
                encode_logs(batch).SerializeToString()
            return LogResult.SUCCESS

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return True

        def shutdown(self) -> None:
            pass

    return Spans(), Logs()


def _values() -> Any:
    import itertools

    return itertools.cycle([0.3, 1.2, 4.5, 12.0, 48.0, 123.45, 480.0, 2_100.0])


def build(setup: str, workload: str, cap: int | None) -> tuple[Callable[[], None], Callable[[], None]]:
    workload = workload.removesuffix("-threads")  # the same operation, from several threads
    if setup == "facade":
        return _facade(workload, cap)
    return _lean(workload, encode=setup == "lean-otlp")


# -- measurements ----------------------------------------------------------------------------

def sustained(setup: str, workload: str, ops: int, min_seconds: float, cap: int | None) -> dict[str, Any]:
    """Run ``op`` at least ``ops`` times and at least ``min_seconds``; cost per window."""
    op, close = build(setup, workload, cap)
    for _ in range(200):  # first-call setup: tracers, instruments, threads
        op()
    clock = _GcClock()
    windows: list[dict[str, Any]] = []
    per_span = SPANS_PER_OP.get(workload, 1)
    done, since = 0, 0
    now = time.perf_counter
    cpu_started = time.process_time()  # every thread of the process, to the nanosecond (os.times: 10 ms ticks)
    helper_started = _children_cpu_s()
    started = last = now()
    targets = iter(WINDOWS)
    target = next(targets)
    while done < ops or now() - started < min_seconds:
        step = target - done
        for _ in range(step):
            op()
        done = target
        t = now()
        windows.append({"ops": done * per_span, "us_per_op": (t - last) / (done - since) / per_span * 1e6})
        last, since = t, done
        target = next(targets, done * 3)
        if done < ops < target:  # the last window ends at ``ops``, not at the next round number
            target = ops
    elapsed = now() - started
    cpu = time.process_time() - cpu_started
    clock.close()
    gc.collect()  # what stays tracked (the stores at their caps), not what waited for a collection
    objects = len(gc.get_objects())
    close()
    helper = _children_cpu_s() - helper_started  # the traces encoder process's, once close() waited for it
    return {"setup": setup, "workload": workload, "cap": cap, "ops": done * per_span, "seconds": elapsed,
            "us_per_op": elapsed / done / per_span * 1e6,
            # Every thread's CPU (the SDK's batch threads and our writers included) and the encoder
            # process's: steadier than wall time on a busy machine, and what the work costs the cores.
            "cpu_us_per_op": (cpu + helper) / done / per_span * 1e6,
            "helper_cpu_us_per_op": helper / done / per_span * 1e6, "helper_rss_mib": _children_peak_rss_mib(),
            "windows": windows,
            "gc_tracked_objects": objects, "gc_max_pause_ms": max(clock.pauses, default=0.0) * 1000,
            "gc_total_ms": sum(clock.pauses) * 1000, "peak_rss_mib": _peak_rss_mib()}


def threaded(setup: str, workload: str, ops: int, cap: int | None) -> dict[str, Any]:
    """``ops`` operations split over ``THREADS`` threads that start together; cost per operation.

    What a worker pool pays when its threads record at once: a lock taken per
    operation makes them convoy under the GIL (docs/benchmarks.md, step 19). No
    windows: the threads' operations interleave.
    """
    op, close = build(setup, workload, cap)
    for _ in range(200):
        op()
    per_thread = max(1, ops // THREADS)
    start = threading.Barrier(THREADS + 1)

    def work() -> None:
        start.wait()
        for _ in range(per_thread):
            op()

    workers = [threading.Thread(target=work, name=f"bench-worker-{i}") for i in range(THREADS)]
    for worker in workers:
        worker.start()
    clock = _GcClock()
    cpu_started = time.process_time()
    helper_started = _children_cpu_s()
    started = time.perf_counter()
    start.wait()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    clock.close()
    done = per_thread * THREADS
    gc.collect()
    objects = len(gc.get_objects())
    close()
    helper = _children_cpu_s() - helper_started
    return {"setup": setup, "workload": workload, "cap": cap, "ops": done, "threads": THREADS, "seconds": elapsed,
            "us_per_op": elapsed / done * 1e6, "cpu_us_per_op": (cpu + helper) / done * 1e6,
            "helper_cpu_us_per_op": helper / done * 1e6, "helper_rss_mib": _children_peak_rss_mib(), "windows": [],
            "gc_tracked_objects": objects, "gc_max_pause_ms": max(clock.pauses, default=0.0) * 1000,
            "gc_total_ms": sum(clock.pauses) * 1000, "peak_rss_mib": _peak_rss_mib()}


def host_impact(setup: str, seconds: float, rate: int = 2_000) -> dict[str, Any]:
    """A pure-Python foreground thread's work per second while ``rate`` spans/s and logs/s are recorded.

    ``setup`` ``none`` records nothing (the baseline). The longest pause is the
    longest time between two consecutive short steps of the foreground thread.
    """
    stop = threading.Event()
    recorder = None
    recorded = [0]  # spans (and as many logs) the recorder made
    if setup != "none":
        span_op, close_spans = build(setup, "root-span", None)
        log_op, close_logs = build(setup, "log", None) if setup != "facade" else (None, lambda: None)
        if setup == "facade":
            from monitoring_layer import get_log_aggregator

            info = get_log_aggregator().info

            def log_op() -> None:
                info("api", "Request received")

        recorder = threading.Thread(target=_paced, args=(span_op, log_op, rate, stop, recorded), daemon=True)
    gc_clock = _GcClock()
    if recorder is not None:
        recorder.start()
    steps, longest = _foreground(seconds)
    stop.set()
    if recorder is not None:
        recorder.join()
        close_logs()
        close_spans()
    gc_clock.close()
    gc.collect()
    return {"setup": setup, "workload": "host", "seconds": seconds, "steps_per_s": steps / seconds,
            "recorded_per_s": recorded[0] / seconds,
            "longest_pause_ms": longest * 1000, "gc_max_pause_ms": max(gc_clock.pauses, default=0.0) * 1000,
            "gc_tracked_objects": len(gc.get_objects()), "peak_rss_mib": _peak_rss_mib()}


def _paced(span_op: Callable[[], None], log_op: Callable[[], None], rate: int, stop: threading.Event,
           done: list[int]) -> None:
    tick = 0.01
    per_tick = max(1, int(rate * tick))
    next_at = time.perf_counter()
    while not stop.is_set():
        for _ in range(per_tick):
            span_op()
            log_op()
        done[0] += per_tick
        next_at += tick
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)


def _foreground(seconds: float) -> tuple[int, float]:
    """Steps of pure-Python work done in ``seconds``, and the longest time one step took."""
    now = time.perf_counter
    end = now() + seconds
    steps, longest = 0, 0.0
    last = now()
    while last < end:
        total = 0
        for i in range(200):  # about 10 µs of bytecode: short against a 5 ms switch interval
            total += i * i
        t = now()
        if t - last > longest:
            longest = t - last
        last = t
        steps += 1
    return steps, longest


def _children_cpu_s() -> float:
    """CPU seconds of the child processes waited for: the traces encoder process, after shutdown."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _children_peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _peak_rss_mib() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: Sequence[str]) -> int:
    setup, workload, ops, min_seconds = argv[0], argv[1], int(argv[2]), float(argv[3])
    cap = int(argv[4]) if len(argv) > 4 and argv[4] != "-" else None
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MONITORING_HOME"] = os.path.join(tmp, "home")
        if workload == "host":
            result = host_impact(setup, min_seconds)
        elif workload.endswith("-threads"):
            result = threaded(setup, workload, ops, cap)
        else:
            result = sustained(setup, workload, ops, min_seconds, cap)
    result["imported_monitoring_layer"] = "monitoring_layer" in sys.modules
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
