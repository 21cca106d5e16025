"""Decorators of SPEC §8 on recording fakes: what they record, and that they never change the call."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from _recorders import Exploding, FakeLogs, FakeMetrics, FakeTraces

import monitoring_layer
from monitoring_layer import (
    CountCalls,
    LogFunction,
    TraceFunction,
    TrackErrors,
    TrackExecution,
    TrackTiming,
    _selfmon,
    config,
)


@pytest.fixture
def metrics():
    return FakeMetrics()


@pytest.fixture
def logs():
    return FakeLogs()


@pytest.fixture
def traces():
    return FakeTraces()


def test_track_execution_counts_calls_and_records_duration(metrics):
    @TrackExecution(component="api", metrics_collector=metrics)
    def handle_request(request):
        return request * 2

    assert handle_request(21) == 42
    assert handle_request(1) == 2
    assert metrics.total("function_calls_total", component="api", function=handle_request.__qualname__,
                         status="success") == 2
    durations = metrics.values("function_duration_ms", component="api", status="success")
    assert len(durations) == 2 and all(d >= 0 for d in durations)
    assert metrics.registered["function_calls_total"][0] == "counter"
    assert metrics.registered["function_duration_ms"][:1] == ("histogram",)
    assert metrics.registered["function_duration_ms"][2] == "ms"


def test_one_metric_family_for_all_functions_with_labels(metrics):
    @CountCalls(component="cache", metrics_collector=metrics)
    def get_from_cache(key):
        return key

    @CountCalls(component="db", metrics_collector=metrics)
    def query(sql):
        return sql

    get_from_cache("k")
    query("select 1")
    names = {name for _, name, _, _ in metrics.records}
    assert names == {"function_calls_total"}
    assert {(lab["component"], lab["function"]) for lab in metrics.label_sets("function_calls_total")} == {
        ("cache", get_from_cache.__qualname__), ("db", query.__qualname__)}
    # registered once per collector, however many functions use the family
    assert metrics.registrations.count("function_calls_total") == 1


def test_errors_are_counted_by_type_and_reraised_unchanged(metrics):
    boom = ValueError("boom")

    @TrackExecution(component="api", metrics_collector=metrics)
    @TrackErrors(component="api", metrics_collector=metrics, name="risky")
    def risky_operation():
        raise boom

    with pytest.raises(ValueError) as caught:
        risky_operation()
    assert caught.value is boom
    assert metrics.total("function_errors_total", function="risky", error_type="ValueError") == 1
    assert metrics.total("function_errors_total", function=risky_operation.__qualname__,
                         error_type="ValueError") == 1
    assert metrics.total("function_calls_total", status="error") == 1
    assert metrics.values("function_duration_ms", status="error")


def test_track_timing_records_only_durations(metrics):
    @TrackTiming(component="db", metrics_collector=metrics)
    def query_database(sql):
        return [sql]

    assert query_database("x") == ["x"]
    assert [name for _, name, _, _ in metrics.records] == ["function_duration_ms"]


def test_track_errors_ignores_successes(metrics):
    @TrackErrors(component="api", metrics_collector=metrics)
    def fine():
        return 1

    fine()
    assert metrics.records == []


def test_log_function_logs_start_completion_and_failure(logs):
    @LogFunction(component="worker", log_aggregator=logs)
    def background_job(fail=False):
        if fail:
            raise KeyError("missing")
        return "done"

    assert background_job() == "done"
    name = background_job.__qualname__
    start, done = logs.records
    assert start["message"] == f"[WORKER] {name} - started" and start["level"] == "INFO"
    assert done["message"].startswith(f"[WORKER] {name} - success (") and done["message"].endswith("ms)")
    assert done["component"] == "worker" and done["function"] == name and done["duration_ms"] >= 0
    with pytest.raises(KeyError):
        background_job(fail=True)
    failure = logs.records[-1]
    assert failure["level"] == "ERROR" and failure["status"] == "error"
    assert isinstance(failure["exception"], KeyError)
    assert "KeyError: 'missing'" in failure["message"]


def test_log_function_options(logs):
    @LogFunction(component="worker", log_aggregator=logs, level="debug", log_start=False)
    def job():
        return 1

    job()
    assert [r["level"] for r in logs.records] == ["DEBUG"]
    with pytest.raises(ValueError, match="level"):
        LogFunction(component="worker", level="loud")


def test_trace_function_wraps_the_call_in_a_span(traces):
    @TraceFunction(component="service", tracing_collector=traces)
    def inner():
        return "ok"

    @TraceFunction(component="service", tracing_collector=traces)
    def api_endpoint():
        return inner()

    assert api_endpoint() == "ok"
    (outer_span,) = traces.by_name(api_endpoint.__qualname__)
    (inner_span,) = traces.by_name(inner.__qualname__)
    assert outer_span["status"] == inner_span["status"] == "SUCCESS"
    assert inner_span["parent"] == next(k for k, v in traces.spans.items() if v is outer_span)
    assert outer_span["component"] == "service"
    assert outer_span["tags"] == {"code.function.name": f"{__name__}.test_trace_function_wraps_the_call_in_a_span.<locals>.api_endpoint"}


def test_trace_function_ends_the_span_in_error(traces):
    @TraceFunction(component="service", tracing_collector=traces)
    def failing():
        raise TimeoutError("slow")

    with pytest.raises(TimeoutError):
        failing()
    (span,) = traces.spans.values()
    assert span["status"] == "ERROR" and isinstance(span["error"], TimeoutError)


def test_pattern_2_stacks_in_any_order(metrics, logs, traces):
    def fully_monitored(order):
        decorators = {
            "metrics": TrackExecution(component="api", metrics_collector=metrics),
            "logs": LogFunction(component="api", log_aggregator=logs),
            "traces": TraceFunction(component="api", tracing_collector=traces),
        }

        def api_handler(request):
            """Handle it."""
            return {"echo": request}

        for key in reversed(order):
            api_handler = decorators[key](api_handler)
        return api_handler

    for order in (("metrics", "logs", "traces"), ("traces", "metrics", "logs"), ("logs", "traces", "metrics")):
        handler = fully_monitored(order)
        assert handler("r") == {"echo": "r"}
        assert handler.__name__ == "api_handler" and handler.__doc__ == "Handle it."
        assert str(inspect.signature(handler)) == "(request)"
    assert metrics.total("function_calls_total", status="success") == 3
    assert len(logs.records) == 6
    assert [s["status"] for s in traces.spans.values()] == ["SUCCESS"] * 3


def test_methods_static_and_class_methods(metrics):
    class Service:
        factor = 3

        @TrackExecution(component="svc", metrics_collector=metrics)
        def scale(self, x):
            return x * self.factor

        @TrackExecution(component="svc", metrics_collector=metrics)
        @classmethod
        def make(cls):
            return cls()

        @TrackExecution(component="svc", metrics_collector=metrics)
        @staticmethod
        def helper(x):
            return -x

    service = Service.make()
    assert service.scale(2) == 6 and Service.helper(1) == -1 and service.helper(2) == -2
    functions = {lab["function"] for lab in metrics.label_sets("function_calls_total")}
    assert functions == {f"{Service.__qualname__}.{n}" for n in ("scale", "make", "helper")}


def test_async_functions_are_awaited_and_timed(metrics, logs, traces):
    @TrackExecution(component="api", metrics_collector=metrics)
    @LogFunction(component="api", log_aggregator=logs)
    @TraceFunction(component="api", tracing_collector=traces)
    async def fetch(x):
        await asyncio.sleep(0)
        if x < 0:
            raise ValueError("negative")
        return x + 1

    assert inspect.iscoroutinefunction(fetch)
    assert asyncio.run(fetch(1)) == 2
    with pytest.raises(ValueError):
        asyncio.run(fetch(-1))
    assert metrics.total("function_calls_total", status="success") == 1
    assert metrics.total("function_errors_total", error_type="ValueError") == 1
    assert [s["status"] for s in traces.spans.values()] == ["SUCCESS", "ERROR"]
    assert [r["level"] for r in logs.records] == ["INFO", "INFO", "INFO", "ERROR"]


def test_async_cancellation_is_cancelled_not_an_error(metrics, traces):
    @TrackExecution(component="api", metrics_collector=metrics)
    @TraceFunction(component="api", tracing_collector=traces)
    async def slow():
        await asyncio.Event().wait()

    async def main():
        task = asyncio.ensure_future(slow())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert metrics.total("function_calls_total", status="cancelled") == 1
    assert metrics.values("function_errors_total") == []
    assert [s["status"] for s in traces.spans.values()] == ["CANCELLED"]


def test_generators_are_timed_over_their_iteration(metrics, traces):
    @TrackExecution(component="etl", metrics_collector=metrics)
    @TraceFunction(component="etl", tracing_collector=traces)
    def rows(n):
        received = []
        for i in range(n):
            got = yield i
            received.append(got)
        return received

    gen = rows(3)
    assert inspect.isgeneratorfunction(rows)
    assert metrics.records == []  # nothing ran yet
    assert next(gen) == 0
    assert gen.send("a") == 1
    assert gen.send("b") == 2
    with pytest.raises(StopIteration) as stop:
        gen.send("c")
    assert stop.value.value == ["a", "b", "c"]
    assert metrics.total("function_calls_total", status="success") == 1

    early = rows(5)
    next(early)
    early.close()
    assert metrics.total("function_calls_total", status="cancelled") == 1
    assert [s["status"] for s in traces.spans.values()] == ["SUCCESS", "CANCELLED"]


def test_async_generators_are_forwarded(metrics):
    @TrackExecution(component="etl", metrics_collector=metrics)
    async def stream(n):
        for i in range(n):
            yield i

    async def main():
        return [i async for i in stream(3)]

    assert asyncio.run(main()) == [0, 1, 2]
    assert metrics.total("function_calls_total", status="success") == 1


def test_default_collectors_are_looked_up_at_call_time(monkeypatch, metrics, logs, traces):
    @TrackExecution(component="api")
    @LogFunction(component="api")
    @TraceFunction(component="api")
    def handler():
        return 1

    # defined before the process-wide getters answer: nothing was looked up yet
    monkeypatch.setattr(monitoring_layer.metrics, "get_metrics_collector", lambda: metrics, raising=False)
    monkeypatch.setattr(monitoring_layer.logging, "get_log_aggregator", lambda: logs, raising=False)
    monkeypatch.setattr(monitoring_layer.tracing, "get_tracing_collector", lambda: traces, raising=False)
    assert handler() == 1
    assert metrics.total("function_calls_total") == 1 and len(logs.records) == 2 and len(traces.spans) == 1

    other = FakeMetrics()  # a new process-wide collector: families are registered on it too
    monkeypatch.setattr(monitoring_layer.metrics, "get_metrics_collector", lambda: other, raising=False)
    handler()
    assert other.total("function_calls_total") == 1 and "function_duration_ms" in other.registered


def test_setup_mistakes_raise_naming_the_argument():
    with pytest.raises(ValueError, match="component"):
        TrackExecution(component="")
    with pytest.raises(TypeError, match="component"):
        CountCalls(component=3)
    with pytest.raises(TypeError, match="metrics_collector"):
        TrackTiming(component="x", metrics_collector=object())
    with pytest.raises(TypeError, match="log_aggregator"):
        LogFunction(component="x", log_aggregator="logs")
    with pytest.raises(TypeError, match="tracing_collector"):
        TraceFunction(component="x", tracing_collector=FakeMetrics())
    with pytest.raises(TypeError, match="callable"):
        TrackExecution(component="x")(42)


def test_a_broken_collector_raises_under_strict_mode():
    @TrackExecution(component="api", metrics_collector=Exploding())
    def handler():
        return 1

    with pytest.raises(RuntimeError, match="collector broke"):
        handler()


@pytest.fixture
def lenient(monkeypatch):
    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()


def test_a_broken_collector_never_changes_result_or_exception(lenient):
    broken = Exploding()
    decorators = [TrackExecution(component="api", metrics_collector=broken),
                  TrackTiming(component="api", metrics_collector=broken),
                  CountCalls(component="api", metrics_collector=broken),
                  TrackErrors(component="api", metrics_collector=broken),
                  LogFunction(component="api", log_aggregator=broken),
                  TraceFunction(component="api", tracing_collector=broken)]

    def ok(x):
        return x + 1

    err = LookupError("original")

    def failing():
        raise err

    async def aok():
        return "async"

    for decorate in decorators:
        assert decorate(ok)(1) == 2
        with pytest.raises(LookupError) as caught:
            decorate(failing)()
        assert caught.value is err
        assert asyncio.run(decorate(aok)()) == "async"
    assert _selfmon.counts()["errors"]["instrumentation"] >= len(decorators) * 3


def test_concurrent_calls_are_all_counted(metrics):
    import threading

    threads_n, calls_n = 8, 200
    barrier = threading.Barrier(threads_n)

    @TrackExecution(component="api", metrics_collector=metrics)
    def handler(i):
        return i

    def worker():
        barrier.wait()
        for i in range(calls_n):
            handler(i)

    threads = [threading.Thread(target=worker) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert metrics.total("function_calls_total", status="success") == threads_n * calls_n
    assert len(metrics.values("function_duration_ms")) == threads_n * calls_n
    assert metrics.registrations.count("function_calls_total") == 1


def test_bare_decorator_use_is_explained():
    with pytest.raises(TypeError, match=r"@TrackExecution\(component="):
        @TrackExecution
        def handler():
            pass


def test_callable_objects_with_an_async_call_are_awaited(metrics):
    class Handler:
        async def __call__(self, x):
            await asyncio.sleep(0)
            return x * 2

    wrapped = TrackExecution(component="api", metrics_collector=metrics, name="handler")(Handler())
    assert inspect.iscoroutinefunction(wrapped)
    assert asyncio.run(wrapped(4)) == 8
    assert metrics.total("function_calls_total", function="handler", status="success") == 1


def test_each_metric_decorator_records_into_a_real_collector_through_its_recorders(pipeline):
    # A plain function's successful calls go through the series' recorders (resolved once per
    # collector); its exceptions through the facade calls. Both must land in the same series.
    from monitoring_layer import MetricsCollector

    real = MetricsCollector(pipeline=pipeline)
    resolved = []
    recorder = real.recorder
    real.recorder = lambda name, labels=None, **kw: resolved.append(name) or recorder(name, labels, **kw)
    try:
        decorated = {
            cls.__name__: cls(component="etl", metrics_collector=real, name=cls.__name__)(
                lambda fail: (_ for _ in ()).throw(KeyError("k")) if fail else "ok")
            for cls in (TrackExecution, TrackTiming, CountCalls, TrackErrors)}
        for fn in decorated.values():
            for fail in (False, False, True, False):
                if fail:
                    with pytest.raises(KeyError):
                        fn(fail)
                else:
                    assert fn(fail) == "ok"

        def reading(name, **labels):
            found = [r for r in real.readings(0) if r.name == name
                     and all(r.labels.get(k) == v for k, v in labels.items())]
            assert len(found) == 1, (name, labels, found)
            return found[0]

        for function, counted, timed in (("TrackExecution", True, True), ("TrackTiming", False, True),
                                         ("CountCalls", True, False), ("TrackErrors", False, False)):
            for status, n in (("success", 3), ("error", 1)):
                calls = [r for r in real.readings(0) if r.name == "function_calls_total"
                         and r.labels["function"] == function and r.labels["status"] == status]
                durations = [r for r in real.readings(0) if r.name == "function_duration_ms"
                             and r.labels["function"] == function and r.labels["status"] == status]
                assert [r.value for r in calls] == ([n] if counted else [])
                assert [r.count for r in durations] == ([n] if timed else [])
            errors = reading("function_errors_total", function=function, error_type="KeyError") \
                if function in ("TrackExecution", "TrackErrors") else None
            assert errors is None or errors.value == 1
        # once per decorated function and series, not once per call
        assert sorted(resolved) == sorted(["function_calls_total", "function_duration_ms",
                                           "function_duration_ms", "function_calls_total"])
    finally:
        real.close()
