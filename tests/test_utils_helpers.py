"""measure_time, count_operation, retry_with_tracking, make_metric_name, make_log_message."""

from __future__ import annotations

import asyncio

import pytest
from _recorders import Exploding, FakeMetrics

from monitoring_layer import (
    config,
    count_operation,
    make_log_message,
    make_metric_name,
    measure_time,
    retry_with_tracking,
)


@pytest.fixture
def metrics():
    return FakeMetrics()


def test_spec_examples_of_the_naming_helpers():
    assert make_metric_name("kafka", "messages_in", "total") == "kafka_messages_in_total"
    assert make_log_message("spark", "processing", "success", duration_ms=1234.56) == \
        "[SPARK] processing - success (1234.56ms)"


def test_make_metric_name_normalises_and_refuses():
    assert make_metric_name("Spark", "execution-time", "ms") == "spark_execution_time_ms"
    assert make_metric_name("kafka", "lag") == "kafka_lag"
    with pytest.raises(ValueError, match="name"):
        make_metric_name("kafka", "--")
    with pytest.raises(ValueError, match="digit"):
        make_metric_name("1kafka", "lag")
    with pytest.raises(TypeError, match="component"):
        make_metric_name(None, "lag")


def test_make_log_message_variants():
    assert make_log_message("db", "query", "started") == "[DB] query - started"
    assert make_log_message("db", "query", "error", duration_ms=2, error=TimeoutError("slow")) == \
        "[DB] query - error (2.00ms): TimeoutError: slow"


def test_measure_time_records_the_block_and_its_outcome(metrics):
    with measure_time("spark", "job_run", metrics):
        pass
    with pytest.raises(RuntimeError):
        with measure_time("spark", "job_run", metrics):
            raise RuntimeError("job died")
    assert len(metrics.values("operation_duration_ms", component="spark", operation="job_run",
                              status="success")) == 1
    assert len(metrics.values("operation_duration_ms", status="error")) == 1
    assert metrics.registered["operation_duration_ms"] == (
        "histogram", "Duration of operations, by outcome (status).", "ms")


def test_count_operation_counts_success_and_error(metrics):
    for fail in (False, False, True):
        try:
            with count_operation("kafka", "publish", metrics):
                if fail:
                    raise ConnectionError("broker down")
        except ConnectionError:
            pass
    assert metrics.total("operations_total", component="kafka", operation="publish", status="success") == 2
    assert metrics.total("operations_total", status="error") == 1


def test_context_managers_nest_reuse_and_work_with_async_with(metrics):
    timer = measure_time("svc", "step", metrics)
    with timer:
        with timer:
            pass
    assert len(metrics.values("operation_duration_ms")) == 2

    async def main():
        async with count_operation("svc", "io", metrics):
            await asyncio.sleep(0)

    asyncio.run(main())
    assert metrics.total("operations_total", operation="io") == 1


def test_context_manager_faults_are_contained_when_not_strict(monkeypatch):
    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()
    with measure_time("svc", "step", Exploding()):
        result = 1
    with pytest.raises(KeyError):
        with count_operation("svc", "step", Exploding()):
            raise KeyError("mine")
    assert result == 1


class Flaky:
    def __init__(self, failures, exc=ConnectionError):
        self.failures, self.exc, self.calls = failures, exc, 0

    def __call__(self):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc(f"attempt {self.calls}")
        return "ok"


def test_retry_succeeds_after_failures_with_backoff(metrics):
    pauses = []
    flaky = Flaky(2)
    call = retry_with_tracking(max_retries=3, base_delay=1.0, max_delay=10.0, metrics_collector=metrics,
                               component="kafka", sleep=pauses.append, random_factor=lambda: 1.0)(flaky)
    assert call() == "ok" and flaky.calls == 3
    assert pauses == [1.0, 2.0]  # exponential; a random factor of 1 -> the full delay
    labels = {"component": "kafka", "function": "Flaky"}
    assert metrics.total("retry_attempts_total", **labels) == 3
    assert metrics.total("retry_retries_total", **labels) == 2
    assert metrics.values("retry_failures_total") == []


def test_retry_jitter_stays_between_half_and_full_delay_and_is_capped(metrics):
    pauses = []
    call = retry_with_tracking(max_retries=5, base_delay=1.0, max_delay=4.0, metrics_collector=metrics,
                               sleep=pauses.append, random_factor=lambda: 0.0)(Flaky(5))
    assert call() == "ok"
    assert pauses == [0.5, 1.0, 2.0, 2.0, 2.0]


def test_retry_gives_up_and_reraises_the_last_error(metrics):
    flaky = Flaky(10)
    call = retry_with_tracking(max_retries=2, base_delay=0, metrics_collector=metrics, sleep=lambda s: None)(flaky)
    with pytest.raises(ConnectionError, match="attempt 3"):
        call()
    assert flaky.calls == 3
    assert metrics.total("retry_attempts_total") == 3 and metrics.total("retry_retries_total") == 2
    assert metrics.total("retry_failures_total", error_type="ConnectionError") == 1


def test_retry_does_not_retry_other_exceptions(metrics):
    flaky = Flaky(1, exc=KeyError)
    call = retry_with_tracking(exceptions=(ConnectionError,), metrics_collector=metrics,
                               sleep=lambda s: None)(flaky)
    with pytest.raises(KeyError):
        call()
    assert flaky.calls == 1 and metrics.total("retry_failures_total", error_type="KeyError") == 1


def test_retry_async(metrics):
    pauses = []

    async def fake_sleep(seconds):
        pauses.append(seconds)

    attempts = []

    @retry_with_tracking(max_retries=2, base_delay=0.5, metrics_collector=metrics, sleep=fake_sleep,
                         random_factor=lambda: 1.0)
    async def fetch():
        attempts.append(1)
        if len(attempts) < 2:
            raise TimeoutError("slow")
        return "data"

    assert asyncio.run(fetch()) == "data"
    assert pauses == [0.5] and metrics.total("retry_attempts_total", function=fetch.__qualname__) == 2


def test_retry_keeps_metadata_and_refuses_bad_arguments():
    @retry_with_tracking()
    def documented(a, b=2):
        """Doc."""
        return a + b

    assert documented.__name__ == "documented" and documented.__doc__ == "Doc."
    with pytest.raises(ValueError, match="max_retries"):
        retry_with_tracking(max_retries=-1)
    with pytest.raises(TypeError, match="max_retries"):
        retry_with_tracking(max_retries=1.5)
    with pytest.raises(ValueError, match="max_delay"):
        retry_with_tracking(base_delay=5, max_delay=1)
    with pytest.raises(TypeError, match="exceptions"):
        retry_with_tracking(exceptions=("ValueError",))
    with pytest.raises(TypeError, match="generator"):
        retry_with_tracking()(lambda: (yield))
