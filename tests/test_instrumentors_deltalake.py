"""DeltaLakeInstrumentor on real local Delta tables (delta-rs writes the files and the log)."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from _requires import require
from monitoring_layer import _selfmon, config
from monitoring_layer.metrics import MetricsCollector

try:
    import deltalake
    import pyarrow as pa

    from monitoring_layer.instrumentors import DeltaLakeInstrumentor
except ImportError:  # the lakehouse extra is missing: every test skips (fails under CI=true)
    deltalake = pa = DeltaLakeInstrumentor = None

ORIGINAL_WRITE = getattr(deltalake, "write_deltalake", None)


@pytest.fixture(autouse=True)
def _lakehouse_extra():
    for module in ("deltalake", "pyarrow"):
        require(module, "the lakehouse extra (pip install 'monitoring-layer[lakehouse]')")
    require("opentelemetry.instrumentation", "the instrument extra")


@pytest.fixture
def metrics(pipeline):
    return MetricsCollector(pipeline=pipeline)


@pytest.fixture
def spans(pipeline):
    exporter = InMemorySpanExporter()
    pipeline.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def scores():
    return []


@pytest.fixture
def instrumented(pipeline, metrics, spans, scores):
    def validator(table, data):
        scores.append((table, data.num_rows))
        nulls = data.column("amount").null_count
        return 100.0 * (data.num_rows - nulls) / data.num_rows

    instrumentor = DeltaLakeInstrumentor()
    instrumentor.instrument(metrics_collector=metrics, tracer_provider=pipeline.tracer_provider,
                            quality_validator=validator)
    yield instrumentor
    instrumentor.uninstrument()


def _rows(n, start=0, nulls=0):
    amounts = [None] * nulls + [float(i) for i in range(start + nulls, start + n)]
    return pa.table({"id": list(range(start, start + n)), "amount": amounts})


def _total(metrics, name, **labels):
    try:
        return metrics.get_metric_statistics(name, labels or None)["total"]
    except KeyError:
        return 0


def test_writing_1000_rows_records_1000_ingested(instrumented, metrics, spans, scores, tmp_path):
    path = tmp_path / "orders"
    deltalake.write_deltalake(str(path), _rows(1_000, nulls=50))
    table = deltalake.DeltaTable(str(path))
    label = table.table_uri.rstrip("/")
    assert _total(metrics, "lakehouse_records_ingested", table=label) == 1_000

    files = [p for p in path.rglob("*.parquet")]
    size_gb = sum(p.stat().st_size for p in files) / 1e9
    assert metrics.get_metric_statistics("lakehouse_data_size_gb", {"table": label})["last"] == pytest.approx(size_gb)
    assert scores == [(label, 1_000)]
    assert metrics.get_metric_statistics("lakehouse_quality_score", {"table": label})["last"] == 95.0
    (span,) = spans.get_finished_spans()
    assert span.name == "delta.write" and span.attributes["delta.rows"] == 1_000
    assert span.attributes["delta.table.version"] == 0


def test_append_then_read_counts_records_processed(instrumented, metrics, spans, tmp_path):
    path = str(tmp_path / "events")
    deltalake.write_deltalake(path, _rows(300))
    deltalake.writer.write_deltalake(path, _rows(200, start=300), mode="append")
    deltalake.write_deltalake(path, _rows(5), mode="ignore")  # the table exists: nothing is written
    table = deltalake.DeltaTable(path)
    deltalake.write_deltalake(table, _rows(1, start=500), mode="append")  # a DeltaTable object, not a path
    deltalake.write_deltalake(table, _rows(5), mode="ignore")
    label = table.table_uri.rstrip("/")
    assert _total(metrics, "lakehouse_records_ingested", table=label) == 501
    assert table.to_pyarrow_table().num_rows == 501
    assert table.to_pyarrow_table(columns=["id"], filters=[("id", "<", 100)]).num_rows == 100
    assert _total(metrics, "lakehouse_records_processed", table=label) == 601
    reads = [s for s in spans.get_finished_spans() if s.name == "delta.read"]
    assert [s.attributes["delta.rows"] for s in reads] == [501, 100]


def test_a_failing_write_raises_unchanged(instrumented, metrics, spans, tmp_path):
    path = str(tmp_path / "t")
    deltalake.write_deltalake(path, _rows(3))
    with pytest.raises(Exception) as raised:
        deltalake.write_deltalake(path, _rows(3))  # mode="error" on an existing table
    with_ours = type(raised.value)
    failed = [s for s in spans.get_finished_spans() if s.status.status_code is StatusCode.ERROR]
    assert len(failed) == 1 and failed[0].attributes["error.type"] == with_ours.__qualname__
    assert _total(metrics, "lakehouse_records_ingested") == 3
    with pytest.raises(with_ours):
        ORIGINAL_WRITE(path, _rows(3))  # the same exception type without the instrumentation


def test_faults_and_a_bad_validator_are_contained(monkeypatch, pipeline, tmp_path):
    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()

    class Broken(MetricsCollector):
        def increment_counter(self, *args, **kwargs):
            raise RuntimeError("collector down")

    instrumentor = DeltaLakeInstrumentor()
    instrumentor.instrument(metrics_collector=Broken(pipeline=pipeline), tracer_provider=pipeline.tracer_provider,
                            quality_validator=lambda table, data: 1 / 0)
    try:
        assert deltalake.write_deltalake(str(tmp_path / "t"), _rows(10)) is None
        assert deltalake.DeltaTable(str(tmp_path / "t")).to_pyarrow_table().num_rows == 10
    finally:
        instrumentor.uninstrument()
    assert _selfmon.counts()["errors"]["instrumentation"] >= 3  # write count, validator, read count
    assert deltalake.write_deltalake is ORIGINAL_WRITE and deltalake.writer.write_deltalake is ORIGINAL_WRITE


def test_bad_arguments_are_refused_at_setup():
    with pytest.raises(TypeError, match="quality_validator"):
        DeltaLakeInstrumentor().instrument(quality_validator=42)
    with pytest.raises(TypeError, match="metrics_collector"):
        DeltaLakeInstrumentor().instrument(metrics_collector=object())
    assert not DeltaLakeInstrumentor().is_instrumented_by_opentelemetry
