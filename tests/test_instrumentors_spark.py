"""SparkInstrumentor on a real local SparkSession (local[2], one per module: the JVM takes seconds to start)."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from _requires import require
import monitoring_layer
from monitoring_layer import _selfmon, config
from monitoring_layer.metrics import MetricsCollector

try:
    from pyspark.sql import SparkSession

    from monitoring_layer.instrumentors import SparkInstrumentor
    from monitoring_layer.instrumentors.spark import _dataframe_class
except ImportError:  # the spark extra is missing: every test skips (fails under CI=true)
    SparkSession = SparkInstrumentor = _dataframe_class = None

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def spark():
    require("pyspark", "the spark extra (pip install 'monitoring-layer[spark]')")
    require("opentelemetry.instrumentation", "the instrument extra")
    require("java", "a Java runtime for Spark (apt-get install openjdk-17-jre-headless)")
    session = (SparkSession.builder.master("local[2]").appName("ml-test")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.driver.memory", "512m")
               # a short-lived JVM: the quick JIT tier and the serial collector start faster
               .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def metrics(pipeline):
    return MetricsCollector(pipeline=pipeline)


@pytest.fixture
def spans(pipeline):
    exporter = InMemorySpanExporter()
    pipeline.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def instrumented(pipeline, metrics, spans):
    instrumentor = SparkInstrumentor()
    instrumentor.instrument(metrics_collector=metrics, tracer_provider=pipeline.tracer_provider)
    yield instrumentor
    instrumentor.uninstrument()


def _total(metrics, name, **labels):
    try:
        return metrics.get_metric_statistics(name, labels or None)["total"]
    except KeyError:
        return 0


def test_group_by_count_matches_sparks_status_tracker(spark, instrumented, metrics, spans):
    tracker = spark.sparkContext.statusTracker()
    before = set(tracker.getJobIdsForGroup(None))
    rows = spark.range(100_000).selectExpr("id % 10 AS k").groupBy("k").count().collect()
    assert sorted(r["count"] for r in rows) == [10_000] * 10

    jobs = sorted(j for j in tracker.getJobIdsForGroup(None) if j not in before)
    infos = [tracker.getJobInfo(j) for j in jobs]
    assert jobs and all(info.status == "SUCCEEDED" for info in infos)
    stages = [tracker.getStageInfo(s) for info in infos for s in info.stageIds]
    tasks = sum(stage.numCompletedTasks for stage in stages if stage is not None)
    assert tasks >= 2  # local[2] reads in two partitions at least

    assert _total(metrics, "spark_jobs_completed", app="ml-test", status="succeeded") == len(jobs)
    assert _total(metrics, "spark_tasks_completed", app="ml-test") == tasks
    timing = metrics.get_metric_statistics("spark_execution_time_ms", {"action": "DataFrame.collect"})
    assert timing["total_count"] == 1 and timing["max"] > 0
    assert metrics.get_metric_statistics("spark_memory_used_mb", {"app": "ml-test"})["last"] >= 0

    (span,) = spans.get_finished_spans()
    assert span.name == "DataFrame.collect" and span.status.status_code is StatusCode.UNSET
    assert list(span.attributes["spark.job.ids"]) == jobs
    assert span.attributes["spark.task.count"] == tasks
    assert span.attributes["spark.app.id"] == spark.sparkContext.applicationId


def test_a_write_and_nested_actions_are_one_span_each(spark, instrumented, metrics, spans, tmp_path):
    df = spark.range(1_000)
    df.write.parquet(str(tmp_path / "out"))
    assert df.first()["id"] == 0  # first() calls head() calls take(): recorded once
    names = [s.name for s in spans.get_finished_spans()]
    assert names == ["DataFrameWriter.parquet", "DataFrame.first"]
    assert _total(metrics, "spark_jobs_completed") >= 2


def test_jobs_outside_actions_are_counted_at_flush(spark, instrumented, metrics):
    assert spark.range(10).count() == 10  # the first action places the cursor
    jobs, tasks = _total(metrics, "spark_jobs_completed"), _total(metrics, "spark_tasks_completed")
    assert spark.sparkContext.parallelize(range(100), 3).sum() == 4950  # an RDD action: not wrapped
    monitoring_layer.flush()  # runs the lifecycle's flush hooks
    assert _total(metrics, "spark_jobs_completed") == jobs + 1
    assert _total(metrics, "spark_tasks_completed") == tasks + 3


def test_a_failing_action_raises_unchanged_and_marks_its_span(spark, instrumented, metrics, spans):
    failing = spark.sql("SELECT raise_error('boom') AS x")
    with pytest.raises(Exception) as raised:
        failing.collect()
    assert "boom" in str(raised.value)
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == type(raised.value).__qualname__
    assert _total(metrics, "spark_jobs_completed", status="failed") >= 1


def test_fault_of_ours_is_contained_and_uninstrument_restores(spark, pipeline, monkeypatch):
    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()

    class Broken(MetricsCollector):
        def observe_histogram(self, *args, **kwargs):
            raise RuntimeError("collector down")

    original = _dataframe_class().count
    instrumentor = SparkInstrumentor()
    instrumentor.instrument(metrics_collector=Broken(pipeline=pipeline), tracer_provider=pipeline.tracer_provider)
    try:
        assert _dataframe_class().count is not original
        assert spark.range(10).count() == 10
        assert _selfmon.counts()["errors"]["instrumentation"] >= 1
    finally:
        instrumentor.uninstrument()
    assert _dataframe_class().count is original
