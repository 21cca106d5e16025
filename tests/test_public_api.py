import importlib

import monitoring_layer


def test_every_name_in_all_imports():
    for name in monitoring_layer.__all__:
        assert getattr(monitoring_layer, name) is not None, name
        exec(f"from monitoring_layer import {name}", {})


def test_all_is_sorted_and_unique():
    names = [n for n in monitoring_layer.__all__ if n != "__version__"]
    assert names == sorted(set(names), key=names.index)
    assert names == sorted(names)


def test_subpackages_import():
    for name in ("monitoring_layer.exporters", "monitoring_layer.instrumentors", "monitoring_layer.cli"):
        importlib.import_module(name)


def test_version_is_a_string():
    assert isinstance(monitoring_layer.__version__, str) and monitoring_layer.__version__.count(".") == 2


def test_import_loads_the_engines_and_the_dashboard_only_when_used():
    # Every full collection of the host walks the objects of every module imported: a process that
    # only records signals must not carry the engines', the dashboard's or the OTel env setup's.
    import subprocess
    import sys

    code = """
import sys
import monitoring_layer
never = ["monitoring_layer.alerts", "monitoring_layer.health", "monitoring_layer.dashboard", "asyncio",
         "sqlite3", "smtplib", "importlib.metadata", "opentelemetry.propagate", "opentelemetry.sdk._configuration"]
print([m for m in never if m in sys.modules])
from monitoring_layer import AlertManager, HealthStatus, ObservabilityDashboard, create_kafka_check
import monitoring_layer.alerts
assert monitoring_layer.AlertManager is monitoring_layer.alerts.AlertManager is AlertManager
assert monitoring_layer.health.HealthStatus is HealthStatus
assert "ObservabilityDashboard" in dir(monitoring_layer) and callable(create_kafka_check)
print(all(m in sys.modules for m in never[:3]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "True"]


def test_an_unknown_name_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        monitoring_layer.NoSuchThing  # noqa: B018
