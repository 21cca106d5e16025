"""The wheel built from the repository holds all three source folders, schemas and entry points."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.integration


def test_wheel_contains_everything(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("monitoring_layer-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for source in ["src/monitoring_layer", "exporters", "instrumentors"]:
        base = ROOT / source
        package = "monitoring_layer" + ("" if source.startswith("src") else "/" + source)
        for path in base.rglob("*"):
            if path.suffix in {".py", ".json", ".typed"} and "__pycache__" not in path.parts:
                assert f"{package}/{path.relative_to(base).as_posix()}" in names, path
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for group in ("opentelemetry_traces_exporter", "opentelemetry_metrics_exporter", "opentelemetry_logs_exporter"):
        assert f"[{group}]\nmonitoring_json = " in text
    assert "monitoring-layer = monitoring_layer.cli:main" in text
    assert "[opentelemetry_instrumentor]" in text
    for name, module, cls in [("kafka", "kafka", "KafkaInstrumentor"), ("spark", "spark", "SparkInstrumentor"),
                              ("deltalake", "deltalake", "DeltaLakeInstrumentor")]:
        assert f"monitoring_{name} = monitoring_layer.instrumentors.{module}:{cls}" in text
