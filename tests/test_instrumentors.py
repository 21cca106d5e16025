"""What the three instrumentors share: nothing is loaded before instrument(), the entry points, and
``opentelemetry-instrument`` activating them on the process-wide pipeline (the lazy defaults)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from _requires import require

LIBRARIES = ("confluent_kafka", "pyspark", "deltalake", "pyarrow", "py4j")


def test_importing_the_instrumentors_loads_no_platform_library(run_python):
    require("opentelemetry.instrumentation", "the instrument extra")
    proc = run_python(f"""
        import sys

        class Absent:  # the platform libraries are not installed, as far as this process can tell
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {LIBRARIES!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}}")

        sys.meta_path.insert(0, Absent())
        from monitoring_layer.instrumentors import DeltaLakeInstrumentor, KafkaInstrumentor, SparkInstrumentor
        for cls in (KafkaInstrumentor, SparkInstrumentor, DeltaLakeInstrumentor):
            print(cls.__name__, list(cls().instrumentation_dependencies()))
        print(sorted(m for m in sys.modules if m.split(".")[0] in {LIBRARIES!r}))
    """)
    assert proc.stdout.splitlines() == [
        "KafkaInstrumentor ['confluent-kafka >= 2.3']",
        "SparkInstrumentor ['pyspark >= 3.5']",
        "DeltaLakeInstrumentor ['deltalake >= 0.18']",
        "[]",
    ]


def test_package_import_does_not_need_opentelemetry_instrumentation(run_python):
    proc = run_python("""
        import sys
        sys.modules["opentelemetry.instrumentation"] = None  # the instrument extra is not installed
        import monitoring_layer.instrumentors as instrumentors
        print(instrumentors.__all__)
        try:
            instrumentors.KafkaInstrumentor
        except ImportError as exc:
            print("ImportError")
    """)
    assert proc.stdout.splitlines() == ["['DeltaLakeInstrumentor', 'KafkaInstrumentor', 'SparkInstrumentor']",
                                        "ImportError"]


def test_entry_points_name_the_three_instrumentors():
    require("opentelemetry.instrumentation", "the instrument extra")
    found = {ep.name: ep for ep in entry_points(group="opentelemetry_instrumentor") if ep.name.startswith("monitoring")}
    assert sorted(found) == ["monitoring_deltalake", "monitoring_kafka", "monitoring_spark"]
    from monitoring_layer.instrumentors import DeltaLakeInstrumentor, KafkaInstrumentor, SparkInstrumentor

    assert found["monitoring_kafka"].load() is KafkaInstrumentor
    assert found["monitoring_spark"].load() is SparkInstrumentor
    assert found["monitoring_deltalake"].load() is DeltaLakeInstrumentor


APP = textwrap.dedent("""
    import sys
    import confluent_kafka, pyarrow, deltalake
    from pyspark.sql import readwriter
    import monitoring_layer
    from monitoring_layer.instrumentors import DeltaLakeInstrumentor, KafkaInstrumentor, SparkInstrumentor

    for cls in (KafkaInstrumentor, SparkInstrumentor, DeltaLakeInstrumentor):
        assert cls().is_instrumented_by_opentelemetry, cls
    assert confluent_kafka.Producer is not confluent_kafka.cimpl.Producer
    assert hasattr(readwriter.DataFrameWriter.save, "__monitoring_layer_original__")
    deltalake.write_deltalake(sys.argv[1], pyarrow.table({"id": list(range(1000))}))
    assert monitoring_layer.flush()
""")


@pytest.mark.integration
def test_opentelemetry_instrument_activates_them_on_the_pipeline(tmp_path, home):
    for module in ("confluent_kafka", "pyspark", "deltalake", "opentelemetry.instrumentation"):
        require(module, "the kafka, spark, lakehouse and instrument extras")
    command = shutil.which("opentelemetry-instrument") or str(Path(sys.executable).parent / "opentelemetry-instrument")
    app = tmp_path / "app.py"
    app.write_text(APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONITORING_"))}
    env.update({"MONITORING_HOME": str(home), "MONITORING_STRICT": "1", "OTEL_SERVICE_NAME": "lake"})
    proc = subprocess.run([command, sys.executable, str(app), str(tmp_path / "table")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    metrics = json.loads((home / "metrics" / "metrics_registry.json").read_text())["metrics"]
    (series,) = metrics["lakehouse_records_ingested"]["series"]
    assert series["sum"] == 1000 and series["labels"]["table"].endswith("/table")
    traces = json.loads((home / "traces" / "traces.json").read_text())["traces"]
    spans = [s for t in traces for s in t["spans"]]
    assert [s["name"] for s in spans] == ["delta.write"]
    assert spans[0]["scope"] == "monitoring_layer.instrumentors.deltalake"
